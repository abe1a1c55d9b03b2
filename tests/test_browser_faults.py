"""A page that keeps the browser busy is the target's fault, even when its failure screenshot times out."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp import web

from agent.probe.result import ErrorType, Outcome
from agent.probe.runner import Runner
from tests.conftest import journey
from tests.targets import serve
from tests.test_browser_pages import browser_runner

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Chromium")
LIMIT = 60

# Renders, then spins the page's main thread forever: text waits, inner_text and screenshots all time out.
BUSY_PAGE = """<html><body><p>Loading your basket</p>
<script>setTimeout(() => { for (;;) {} }, 50);</script></body></html>"""


def busy_app() -> web.Application:
    async def busy(request: web.Request) -> web.Response:
        return web.Response(text=BUSY_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/busy", busy)
    return app


async def test_expect_text_on_a_busy_page_is_an_assertion_not_an_internal_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "journeyprobe")
    runner: Runner
    async with asyncio.timeout(LIMIT), serve(busy_app()) as base, browser_runner(tmp_path) as runner:
        flow = journey([{"name": "basket", "browser": [
            {"goto": f"{base}/busy"},
            {"expect_text": {"text": "Your basket is empty", "timeout": "1s"}},
        ]}], timeout="20s")
        result = await runner.run(flow)
    step = result.steps[0]
    assert step.error_type != ErrorType.INTERNAL, step.error
    assert (step.outcome, step.error_type) == (Outcome.FAILURE, ErrorType.ASSERTION), step.error
    assert not result.agent_side
    assert step.error and step.error.startswith('expect_text "Your basket is empty": not found')
    assert runner.internal_errors == 0
    # the screenshot could not be taken: said in the log by the exception's type, never an empty reason
    shots = [r.getMessage() for r in caplog.records if "no failure screenshot" in r.getMessage()]
    assert all(not message.endswith(": ") for message in shots), shots
