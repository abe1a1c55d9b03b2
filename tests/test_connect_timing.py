"""`connect` is the network's handshake, taken from the kernel, not when a busy event loop noticed it."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config.models import BrowserConfig
from agent.journey.model import Journey
from agent.journey.variables import Variables
from agent.probe.context import ProbeResources, ProbeSettings
from agent.probe.http.timed_socket import KERNEL_STAMPS, handshake_rtt
from agent.probe.http.timing import RequestTiming
from agent.probe.result import RunResult
from agent.probe.runner import Runner
from tests.conftest import journey
from tests.targets import Seen

pytestmark = pytest.mark.skipif(not KERNEL_STAMPS, reason="TCP_INFO is Linux's")
CHROMIUM = "/usr/bin/chromium"
LOOPBACK_CONNECT_S = 0.005


def test_the_kernel_gives_the_handshake_of_a_fresh_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket() as client:
        client.connect(server.getsockname())
        rtt = handshake_rtt(client)
    assert rtt is not None and 0 < rtt < LOOPBACK_CONNECT_S
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        assert handshake_rtt(udp) is None


class BlockingObserver:
    """Holds the event loop up for `block_s` right after each request has started connecting."""

    def __init__(self, block_s: float) -> None:
        self.block_s = block_s

    def run_started(self, journey: Journey, attempt: int, variables: Variables) -> tuple[str, Any]:
        return "0" * 31 + "1", self

    def step_started(self, step: Any) -> str | None:
        return None

    def step_finished(self, step: Any, result: Any) -> None: ...

    def run_finished(self, result: RunResult) -> None: ...

    def request_started(self, timing: RequestTiming, method: str, url: str, headers: Any) -> None:
        # runs at aiohttp's request start; the task goes on to connect() before it first yields,
        # so this callback runs while the handshake is under way (or done) in the kernel
        asyncio.get_running_loop().call_soon(time.sleep, self.block_s)

    def request_finished(self, timing: RequestTiming, status: int | None, error_type: str | None) -> None: ...


async def test_a_blocked_loop_does_not_lengthen_connect(target: tuple[str, Seen]) -> None:
    url, _ = target
    runner = Runner(ProbeSettings(), observer_factory=lambda: BlockingObserver(0.15))
    result = await runner.run(journey([{"name": "get", "http": {"url": f"{url}/json"}}]))
    assert result.passed, result.error
    phases = result.steps[0].phases
    assert phases is not None
    assert phases.connect_s < LOOPBACK_CONNECT_S, phases
    assert result.duration_s >= 0.15  # the run's wall time does include the agent's stall


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is not installed")
async def test_http_steps_connect_in_loopback_time_while_a_browser_journey_starts(
        target: tuple[str, Seen], tmp_path: Path) -> None:
    url, _ = target
    runner = Runner(ProbeSettings(artifacts_dir=tmp_path / "artifacts"))
    runner.resources = ProbeResources(browser=BrowserConfig(executable_path=CHROMIUM))
    browser = journey([{"name": "page", "browser": [{"goto": f"{url}/html"}]}], name="browser")
    http = [journey([{"name": "get", "http": {"url": f"{url}/json"}}], name=f"http-{i}") for i in range(40)]

    async def http_runs_meanwhile(run: asyncio.Task[RunResult]) -> list[RunResult]:
        results = []
        for j in http:  # one after the other, over the browser's start
            results.append(await runner.run(j))
            if run.done():
                break
            await asyncio.sleep(0.02)
        return results

    try:
        browser_run = asyncio.create_task(runner.run(browser))
        results = await http_runs_meanwhile(browser_run)
        browser_result = await browser_run
    finally:
        await runner.resources.close()
    assert browser_result.passed, browser_result.error
    assert len(results) >= 5
    connects = [r.steps[0].phases.connect_s for r in results if r.steps[0].phases is not None]
    assert all(r.passed for r in results)
    assert max(connects) < LOOPBACK_CONNECT_S, sorted(connects)[-5:]
