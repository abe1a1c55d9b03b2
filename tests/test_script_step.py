"""`script:` steps: functions next to the journey file, with the run's page, HTTP session and variables."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from agent.journey.loader import load_journey_file
from agent.journey.model import Journey
from agent.probe.result import ErrorType, Outcome
from agent.probe.runner import Runner
from agent.probe.script import load_function
from tests.conftest import journey
from tests.targets import Seen, serve
from tests.test_browser_pages import browser_runner, shop_app

SCRIPTS = Path(__file__).parent / "fixtures" / "scripts"
HAS_CHROMIUM = Path("/usr/bin/chromium").exists()
LIMIT = 45


def scripted(*references: str, **extra: object) -> Journey:
    """A journey of script steps whose file would sit in tests/fixtures/scripts/."""
    built = journey([{"name": f"s{i}", "script": ref} for i, ref in enumerate(references)], **extra)
    built._source = str(SCRIPTS / "scripted.yaml")
    return built


@pytest.mark.skipif(not HAS_CHROMIUM, reason="needs Chromium")
async def test_script_uses_the_page_and_variables(tmp_path: Path) -> None:
    flow = load_journey_file(SCRIPTS / "checkout.yaml")
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        runner.overrides["base"] = base
        result = await runner.run(flow)
    assert result.passed, result.error
    receipt = result.steps[1]
    assert receipt.kind == "script" and receipt.outcome is Outcome.SUCCESS
    assert receipt.actions[0]["target"] == "journeys_ext.checkout:verify_receipt"
    assert result.steps[2].actions[0]["target"] == "Thank you, Ada!"  # set by the script


async def test_script_without_browser_gets_http_and_no_page() -> None:
    seen = Seen()
    async with asyncio.timeout(LIMIT), serve(shop_app(seen)) as base:
        runner = Runner(environ={})
        result = await runner.run(scripted("journeys_ext.checkout:call_api",
                                           "journeys_ext.checkout:not_async", variables={"base": base}))
    assert result.passed, result.error
    assert runner.resources.browser_pool is None  # no browser started for a journey without browser steps
    assert [r["path"] for r in seen.requests] == ["/thanks"]


async def test_script_exception_is_an_error_and_assertion_a_failure() -> None:
    runner = Runner(environ={})
    broken = await runner.run(scripted("journeys_ext.checkout:broken"))
    step = broken.steps[0]
    assert step.outcome is Outcome.ERROR and step.error_type == ErrorType.SCRIPT
    assert step.error == "journeys_ext.checkout:broken: RuntimeError: the receipt service said no"
    wrong = await runner.run(scripted("journeys_ext.checkout:wrong_total", "journeys_ext.checkout:broken"))
    step = wrong.steps[0]
    assert step.outcome is Outcome.FAILURE and step.error_type == ErrorType.ASSERTION
    assert step.error == ("journeys_ext.checkout:wrong_total: assertion failed at checkout.py:33: "
                          "assert total == 42")
    assert wrong.steps[1].outcome is Outcome.SKIPPED


@pytest.mark.parametrize(("reference", "message"), [
    ("journeys_ext.nowhere:f", "no module file"),
    ("journeys_ext.checkout:missing", "has no function 'missing'"),
    ("journeys_ext.checkout:NOT_A_FUNCTION", "has no function 'NOT_A_FUNCTION'"),
])
async def test_missing_module_or_function_is_a_clear_error(reference: str, message: str) -> None:
    result = await Runner(environ={}).run(scripted(reference))
    step = result.steps[0]
    assert step.outcome is Outcome.ERROR and step.error_type == ErrorType.SCRIPT
    assert step.error is not None and step.error.startswith(f"script {reference}: ") and message in step.error
    assert str(SCRIPTS) in step.error


def test_modules_are_cached_by_mtime_and_leave_sys_path_alone(tmp_path: Path) -> None:
    import sys

    module = tmp_path / "ext" / "probe.py"
    module.parent.mkdir()
    module.write_text("def f(ctx):\n    return 1\n")
    source = str(tmp_path / "journey.yaml")
    before = list(sys.path)
    first = load_function("ext.probe:f", source)
    assert load_function("ext.probe:f", source) is first
    module.write_text("def f(ctx):\n    return 2\n")
    later = time.time() + 5
    os.utime(module, (later, later))
    assert load_function("ext.probe:f", source)(None) == 2
    assert sys.path == before
    module.write_text("def f(ctx) return\n")
    os.utime(module, (later + 5, later + 5))
    with pytest.raises(Exception, match=r"importing .* failed: SyntaxError"):
        load_function("ext.probe:f", source)


@pytest.mark.skipif(not HAS_CHROMIUM, reason="needs Chromium")
async def test_failed_script_with_a_page_keeps_a_screenshot(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        flow = journey([{"name": "open", "browser": [{"goto": f"{base}/checkout"}]},
                        {"name": "check", "script": "journeys_ext.checkout:wrong_total"}])
        flow._source = str(SCRIPTS / "scripted.yaml")
        result = await runner.run(flow)
    step = result.steps[1]
    assert step.outcome is Outcome.FAILURE
    assert [Path(p).name for p in step.artifacts] == ["check-failure.png", "check-trace.zip"]
