"""The shared browser: crash recovery, no leaks, slots, launch failures, closing."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from agent.probe.browser.pool import BrowserPool, pool_for
from agent.probe.browser.procs import browser_main_pids, chromium_processes
from agent.probe.result import ErrorType, Outcome
from tests.conftest import journey
from tests.daemon_helpers import wait_for
from tests.targets import Seen, serve
from tests.test_browser_pages import browser_runner, checkout_journey, shop_app

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Chromium")
LIMIT = 60


async def test_killed_browser_is_relaunched(tmp_path: Path) -> None:
    seen = Seen()
    async with asyncio.timeout(LIMIT), serve(shop_app(seen)) as base, browser_runner(tmp_path) as runner:
        hang = {"goto": {"url": f"{base}/hang", "timeout": "20s"}}
        hanging = journey([{"name": "wait", "browser": [hang]}])
        run = asyncio.create_task(runner.run(hanging))
        await wait_for(lambda: any(r["path"] == "/hang" for r in seen.requests))  # the page is loading
        pids = browser_main_pids()
        assert pids, "no Chromium process found below this process"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed = await asyncio.wait_for(run, 15)
        step = killed.steps[0]
        assert step.outcome is Outcome.ERROR and step.error_type == ErrorType.BROWSER, step.error
        assert step.agent_side and killed.agent_side
        assert "crashed or was closed" in (step.error or "")
        after = await runner.run(checkout_journey(base))
        assert after.passed, after.error
        assert pool_for(runner.resources).launches == 2


async def test_contexts_do_not_leak_and_close_ends_every_process(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        actions = [{"goto": f"{base}/checkout"}, {"expect_text": "Checkout"}]
        flow = journey([{"name": "open", "browser": actions}])
        for _ in range(30):
            result = await runner.run(flow)
            assert result.passed, result.error
        pool = pool_for(runner.resources)
        assert pool.open_contexts == 0
        instance = pool._current
        assert instance is not None and instance.open == 0 and instance.browser.contexts == []
        assert list(instance.traces_dir.iterdir()) == []  # trace scratch files of finished runs are gone
        assert chromium_processes()
        home = pool.home
        await runner.resources.close()
        assert runner.resources.browser_pool is None and not home.exists()
        await wait_for(lambda: chromium_processes() == [])  # its children take a moment to exit after close()


async def test_browser_is_recycled_after_many_contexts(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        pool = BrowserPool(recycle_after=3)
        runner.resources.browser_pool = pool
        flow = journey([{"name": "open", "browser": [{"goto": f"{base}/checkout"}]}])
        for _ in range(7):
            assert (await runner.run(flow)).passed
        assert pool.launches == 3 and pool.open_contexts == 0
        assert len(pool._instances) == 1  # the retired ones are closed


async def test_a_run_waits_for_a_free_slot(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, \
            browser_runner(tmp_path, max_contexts=1) as runner:
        flow = journey([{"name": "slow", "browser": [{"goto": f"{base}/slow?delay=1"},
                                                     {"expect_text": "Slow but there"}]}], timeout="20s")
        first, second = await asyncio.gather(runner.run(flow), runner.run(flow))
        assert first.passed and second.passed, (first.error, second.error)
        waited = max((first, second), key=lambda r: r.duration_s)
        assert waited.duration_s > 2.0  # it ran after the other one
        assert waited.steps[0].duration_s < waited.duration_s - 0.8  # the wait is not the target's time


async def test_slot_wait_beyond_the_deadline_is_an_agent_error(tmp_path: Path) -> None:
    seen = Seen()
    async with asyncio.timeout(LIMIT), serve(shop_app(seen)) as base, \
            browser_runner(tmp_path, max_contexts=1) as runner:
        slow = journey([{"name": "slow", "browser": [{"goto": f"{base}/slow?delay=3"}]}], timeout="10s")
        quick = journey([{"name": "quick", "browser": [{"goto": f"{base}/checkout"}]}], timeout="1s")
        hog = asyncio.create_task(runner.run(slow))
        await wait_for(lambda: any(r["path"] == "/slow" for r in seen.requests))  # the hog holds the one slot
        starved = await runner.run(quick)
        assert (await hog).passed
    step = starved.steps[0]
    assert step.outcome is Outcome.ERROR and step.error_type == ErrorType.AGENT, step.error
    assert step.agent_side and starved.agent_side
    assert "no browser slot free" in (step.error or "")


async def test_launch_failure_is_an_agent_side_error(tmp_path: Path) -> None:
    bogus = "/nonexistent/chromium"
    async with asyncio.timeout(LIMIT), browser_runner(tmp_path, executable_path=bogus) as runner:
        result = await runner.run(journey([{"name": "open", "browser": [{"goto": "http://127.0.0.1:9/"}]}]))
        pool = pool_for(runner.resources)
        assert pool.open_contexts == 0
    step = result.steps[0]
    assert step.outcome is Outcome.ERROR and step.error_type == ErrorType.AGENT
    assert step.agent_side and result.agent_side
    assert "could not launch Chromium (/nonexistent/chromium)" in (step.error or "")


async def test_a_timeout_after_a_long_slot_wait_is_the_agents(tmp_path: Path) -> None:
    seen = Seen()
    async with asyncio.timeout(LIMIT), serve(shop_app(seen)) as base, \
            browser_runner(tmp_path, max_contexts=1) as runner:
        await runner.run(journey([{"name": "warm", "browser": [{"goto": f"{base}/checkout"}]}]))
        slow = journey([{"name": "slow", "browser": [{"goto": f"{base}/slow?delay=3"}]}], timeout="10s")
        late = journey([{"name": "late", "browser": [{"goto": f"{base}/slow?delay=2"}]}], timeout="4s")
        hog = asyncio.create_task(runner.run(slow))
        await wait_for(lambda: any(r["path"] == "/slow" for r in seen.requests))  # the hog holds the one slot
        result = await runner.run(late)
        assert (await hog).passed
    step = result.steps[0]
    assert step.agent_side and result.agent_side, step.error
    if step.outcome is Outcome.TIMEOUT:
        assert "to get ready (slot wait or launch)" in (step.error or "")
    else:
        assert step.error_type == ErrorType.AGENT
