"""Reading a journey or config file: a regular file under a size cap, checked before a byte is read.

A 50 MB file, a symlink to /dev/zero or a FIFO dropped into the journeys folder must cost the
daemon nothing but a clear error: the file's kind and size come from `stat` first, it is opened
without blocking (a FIFO swapped in after the check cannot hang the open), checked again on the
open descriptor, and read up to the cap and no further.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from agent.core.durations import parse_byte_size

MAX_FILE_ENV = "JOURNEYPROBE_MAX_FILE_SIZE"
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class InputFileError(Exception):
    """The file cannot be taken as input; the message says why (without the file's name)."""


def max_file_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The cap on a journey or config file: JOURNEYPROBE_MAX_FILE_SIZE (`4MiB`, bytes), else 1 MiB."""
    raw = (os.environ if environ is None else environ).get(MAX_FILE_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FILE_BYTES
    try:
        return parse_byte_size(int(raw) if raw.isdigit() else raw)
    except ValueError as exc:
        raise InputFileError(f"{MAX_FILE_ENV}={raw!r}: {exc}") from None


def read_input_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; raises InputFileError."""
    try:
        info = os.stat(path)  # follows symlinks: what would be read
    except OSError as exc:
        raise InputFileError(f"cannot read the file: {exc.strerror or exc}") from None
    _check(path, info, limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputFileError(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        _check(path, os.fstat(fd), limit)  # what was opened, if the path changed since the stat
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(64 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputFileError(f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise InputFileError(_too_large(f"more than {limit} bytes", limit))
    return b"".join(chunks)


def _check(path: Path, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        target = f" ({os.path.realpath(path)})" if path.is_symlink() else ""
        raise InputFileError(f"is {kind}{target}, not a regular file: journey and config files must be "
                             "regular files")
    if info.st_size > limit:
        raise InputFileError(_too_large(f"{info.st_size} bytes", limit))


def _too_large(size: str, limit: int) -> str:
    return (f"the file is {size}; journey and config files are at most {limit} bytes "
            f"(set {MAX_FILE_ENV} to allow more)")
