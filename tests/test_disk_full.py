"""SIGTERM while the store's disk is full: one clear line saying how many results were not written, exit 1.

The disk is a real one that fills up: a 2 MiB tmpfs mounted for the test (root), or else the
daemon's file size limit (RLIMIT_FSIZE, SIGXFSZ ignored as Python does).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.daemon_helpers import get_json, http_journey, wait_for
from tests.targets import Seen

NAME = "full"


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[bool]:
    """A 2 MiB tmpfs at `folder` (True), or nothing mounted (False) when this process may not mount."""
    folder.mkdir()
    if os.geteuid() != 0:
        yield False
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> None:
    """Write zeros until the file system says it is full."""
    with open(folder / "filler", "wb") as out:
        block = b"\0" * 65536
        while True:
            try:
                out.write(block)
                out.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    with contextlib.suppress(OSError), open(folder / "filler-tail", "wb") as out:
        while True:
            out.write(b"\0")
            out.flush()


async def test_sigterm_on_a_full_disk_says_how_many_results_were_lost(tmp_path: Path,
                                                                       target: tuple[str, Seen]) -> None:
    url, _ = target
    with small_disk(tmp_path / "disk") as mounted:
        limit = None if mounted else 256 * 1024
        if not mounted and not hasattr(resource, "RLIMIT_FSIZE"):
            pytest.skip("cannot mount a small disk nor limit file sizes here")
        await _run(tmp_path, url, mounted, limit)


async def _run(tmp_path: Path, url: str, mounted: bool, limit: int | None) -> None:
    store = tmp_path / "disk" / "store.db"
    (tmp_path / "j.yaml").write_text(http_journey(NAME, f"{url}/json", interval="1s"))
    port = free_port()
    (tmp_path / "agent.yaml").write_text(
        f"location: disk\nserver: {{listen: '127.0.0.1:{port}'}}\nreload_poll: 60s\n"
        f"storage: {{path: '{store}', flush_interval: 100ms, batch_size: 1}}\n")

    def limit_file_size() -> None:  # in the child: writes past `limit` fail with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "run", "--config", str(tmp_path / "agent.yaml"), "--log-format", "text",
        str(tmp_path / "j.yaml"), cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit_file_size)
    assert process.stderr is not None
    seen: list[str] = []

    async def until(needle: str, timeout: float = 20.0) -> None:
        """Read stderr lines (kept in `seen`) up to one holding `needle`."""
        async with asyncio.timeout(timeout):
            while True:
                line = (await process.stderr.readline()).decode()  # type: ignore[union-attr]
                assert line, f"stderr ended before {needle!r}: {''.join(seen)[-2000:]}"
                seen.append(line)
                if needle in line:
                    return

    try:
        await until(f"run {NAME} success")

        async def committed() -> bool:
            status, runs = await get_json(f"http://127.0.0.1:{port}/api/v1/journeys/{NAME}/runs")
            return status == 200 and bool(runs)

        await wait_for(committed, timeout=10)
        if mounted:
            await asyncio.to_thread(fill, tmp_path / "disk")
        await until("write failed", timeout=60)  # the disk is full now
        await until(f"run {NAME} success")  # and one more result waits
        process.send_signal(signal.SIGTERM)
        rest = "".join(seen) + (await asyncio.wait_for(process.stderr.read(), 30)).decode()
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 1, rest[-3000:]
    assert "Traceback" not in rest, rest[-3000:]
    final = [line for line in rest.splitlines() if "journeyprobe stopped:" in line]
    assert len(final) == 1, rest[-3000:]
    count = int(final[0].split("journeyprobe stopped: ")[1].split()[0])
    assert count >= 1 and f"results could not be written to the result store {store}" in final[0]
    assert f"closed with {count} results not written" in rest
