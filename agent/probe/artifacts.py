"""Files kept from runs (failure screenshots, trace archives): where they go and how long they stay."""

from __future__ import annotations

import logging
import os
import re
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.core.redaction import Redactor

DEFAULT_MAX_AGE_S = 7 * 86400
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
SCAN_MAX_BYTES = 256 * 1024 * 1024  # an artifact with more than this to read is dropped, not kept unread
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long artifacts are kept and how much disk they may take in all."""

    max_age_s: float = DEFAULT_MAX_AGE_S
    max_bytes: int = DEFAULT_MAX_BYTES
    every_s: float = 300.0  # prune at most this often


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe form of a journey, step or screenshot name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned[:limit] or "unnamed"


def run_folder(root: Path, journey: str, trace_id: str, started: datetime | None = None) -> Path:
    """`<root>/<journey>/<UTC timestamp>-<trace id>`: one folder per run, sorted by time."""
    moment = (started or datetime.now(UTC)).astimezone(UTC)
    return root / slug(journey) / f"{moment.strftime('%Y%m%dT%H%M%S')}Z-{trace_id}"


def drop_secret_holders(paths: Sequence[str], redactor: Redactor) -> list[str]:
    """The artifacts that hold no secret; the others are deleted (a trace archive is read member by member).

    A failure screenshot masks the fields a secret was typed into, and a trace is dropped as soon as
    an action types or sends one; this catches what a page shows on its own (a secret an earlier step
    sent and the target echoes). Blocking: call it in a thread."""
    if not redactor:
        return list(paths)
    kept = []
    for path in paths:
        try:
            clean = not any(redactor.holds(text) for text in _texts(Path(path)))
        except (OSError, zipfile.BadZipFile, _TooLarge) as exc:
            clean = False
            log.info("artifact %s could not be checked for secrets (%s); dropped", path, exc)
        if clean:
            kept.append(path)
            continue
        log.info("artifact %s dropped: it holds a secret", path)
        _unlink(Path(path))
    return kept


class _TooLarge(Exception):
    pass


def _texts(path: Path) -> Iterator[str]:
    """The file's bytes as text; a zip archive's members one by one."""
    budget = SCAN_MAX_BYTES
    if not zipfile.is_zipfile(path):
        if path.stat().st_size > budget:
            raise _TooLarge(f"{path.stat().st_size} bytes")
        yield path.read_bytes().decode("utf-8", "replace")
        return
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            budget -= member.file_size
            if budget < 0:
                raise _TooLarge("more than 256 MiB unpacked")
            with archive.open(member) as handle:
                yield handle.read(member.file_size + 1).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class PruneReport:
    removed_files: int
    removed_bytes: int
    kept_files: int
    kept_bytes: int


def prune(root: str | os.PathLike[str], max_age_s: float = DEFAULT_MAX_AGE_S,
          max_bytes: int = DEFAULT_MAX_BYTES, *, now: float | None = None) -> PruneReport:
    """Delete files under `root` older than `max_age_s`, then the oldest until at most `max_bytes` remain.

    Empty folders left behind are removed too (never `root` itself). Blocking: call it in a thread."""
    base = Path(root)
    if not base.is_dir():
        return PruneReport(0, 0, 0, 0)
    moment = time.time() if now is None else now
    files: list[tuple[float, int, Path]] = []
    for folder, _dirs, names in os.walk(base):
        for name in names:
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
    files.sort(key=lambda f: f[0])
    total = sum(size for _, size, _ in files)
    removed = removed_bytes = 0
    kept: list[tuple[float, int, Path]] = []
    for mtime, size, path in files:
        too_old = moment - mtime > max_age_s
        if (too_old or total > max_bytes) and _unlink(path):
            removed += 1
            removed_bytes += size
            total -= size
            continue
        kept.append((mtime, size, path))
    _remove_empty_folders(base)
    return PruneReport(removed, removed_bytes, len(kept), sum(size for _, size, _ in kept))


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _remove_empty_folders(base: Path) -> None:
    for folder, _dirs, _names in os.walk(base, topdown=False):
        if Path(folder) == base:
            continue
        try:
            os.rmdir(folder)
        except OSError:
            pass  # not empty


class Pruner:
    """Runs `prune` at most every `retention.every_s` seconds; call `due()` after saving artifacts."""

    def __init__(self, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        self._last: dict[Path, float] = {}

    def due(self, root: Path) -> bool:
        now = time.monotonic()
        last = self._last.get(root)
        if last is not None and now - last < self.retention.every_s:
            return False
        self._last[root] = now
        return True

    def run(self, root: Path) -> PruneReport:
        return prune(root, self.retention.max_age_s, self.retention.max_bytes)
