"""`check` shows what runs while it runs: live on a terminal (a real pseudo-terminal here), plain lines
in a log, with a heartbeat that names a step that hangs."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import re
import select
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from agent.cli.progress import Progress
from agent.cli.progress_view import PlainView, showing
from agent.probe.runner import Runner
from tests.conftest import journey
from tests.targets import serve

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def held_app(release: asyncio.Event, arrived: asyncio.Event) -> web.Application:
    async def hold(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.wait_for(release.wait(), 30)
        return web.json_response({"ok": True})

    async def fast(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/hold", hold)
    app.router.add_get("/fast", fast)
    return app


@pytest.fixture
async def held() -> AsyncIterator[tuple[str, asyncio.Event, asyncio.Event]]:
    release, arrived = asyncio.Event(), asyncio.Event()
    async with serve(held_app(release, arrived)) as url:
        yield url, release, arrived
        release.set()


def journeys_at(folder: Path, url: str) -> Path:
    (folder / "slow.yaml").write_text(f"name: slow\nsteps:\n  - name: warm up\n    http: {{url: '{url}/fast'}}\n"
                                      f"  - name: wait for the answer\n    http: {{url: '{url}/hold'}}\n")
    (folder / "quick.yaml").write_text(f"name: quick\nsteps:\n  - name: ping\n    http: {{url: '{url}/fast'}}\n")
    return folder


class _Lines(io.StringIO):
    """Output that sets `seen` when a line starting with `prefix` is written."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.seen = asyncio.Event()

    def write(self, text: str) -> int:
        if text.startswith(self.prefix):
            self.seen.set()
        return super().write(text)


def read_until(fd: int, pattern: str, deadline_s: float) -> str:
    """Read a pseudo-terminal until the text (escape codes removed) matches, or the deadline passes."""
    seen = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if re.search(pattern, ANSI.sub("", seen.decode(errors="replace"))):
                break
    return ANSI.sub("", seen.decode(errors="replace"))


async def test_live_display_on_a_terminal_names_the_running_step_and_its_time(
        tmp_path: Path, held: tuple[str, asyncio.Event, asyncio.Event]) -> None:
    url, release, arrived = held
    journeys_at(tmp_path, url)
    controller, terminal = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "check", str(tmp_path), stdin=asyncio.subprocess.DEVNULL,
        stdout=terminal, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"})
    os.close(terminal)
    try:
        await asyncio.wait_for(arrived.wait(), 30)
        # the live region: the journey, the step (2 of 2) and a timer, and the quick journey already done
        screen = await asyncio.to_thread(read_until, controller, r"slow\s+\d+\.\ds\s+› wait for the answer \(2/2\)"
                                         r"\s+\d+\.\ds", 20)
        assert re.search(r"slow\s+\d+\.\ds\s+› wait for the answer \(2/2\)\s+\d+\.\ds", screen), screen
        assert re.search(r"✔ quick\s+success", screen), screen
        assert "1 of 2 journeys done (1 passed), 1 running" in screen
        release.set()
        rest = await asyncio.to_thread(read_until, controller, r"2 of 2 journeys passed", 20)
        assert "2 of 2 journeys passed" in rest
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        os.close(controller)


async def test_plain_lines_when_stdout_is_not_a_terminal(tmp_path: Path,
                                                         held: tuple[str, asyncio.Event, asyncio.Event]) -> None:
    url, release, _ = held
    release.set()
    journeys_at(tmp_path, url)
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "agent", "check", str(tmp_path),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    lines = out.decode().splitlines()
    assert process.returncode == 0
    assert "▶ slow: started, 2 steps" in lines and "▶ quick: started, 1 step" in lines
    assert any(re.fullmatch(r"  slow › wait for the answer: success \d+ms", line) for line in lines), lines
    assert any(re.fullmatch(r"✔ slow: success \d+ms", line) for line in lines), lines
    assert "\x1b[" not in out.decode()  # no escape codes in a log


async def test_the_plain_heartbeat_names_a_step_that_hangs(held: tuple[str, asyncio.Event, asyncio.Event]) -> None:
    url, release, arrived = held
    out = _Lines("… stuck")
    progress = Progress(1)
    progress.view = PlainView(out, progress)
    runner = Runner()
    runner.observer_factory = progress.observer_factory()
    hung = journey([{"name": "hangs", "http": {"url": f"{url}/hold"}}], name="stuck")
    async with showing(progress.view, heartbeat_s=0.05):
        run = asyncio.create_task(runner.run(hung))
        await asyncio.wait_for(arrived.wait(), 10)
        await asyncio.wait_for(out.seen.wait(), 10)  # the heartbeat line itself
        release.set()
        result = await run
    assert result.passed
    beat = next(line for line in out.getvalue().splitlines() if line.startswith("… stuck"))
    assert re.fullmatch(r"… stuck: running for \d+\.\ds › hangs \(1/1\) for \d+\.\ds", beat), beat
