"""The `browser:` step: Playwright actions in order, in the run's page, in a context of the shared browser.

Each action gets min(its timeout or DEFAULT_ACTION_TIMEOUT, what is left of the step and the run),
less a short reserve so that a failed step still has time to save its screenshot and trace.
The step's duration counts from the moment its page is ready: waiting for a browser slot or for
Chromium to start is the agent's time, not the target's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agent.journey.browser_model import BrowserAction
from agent.journey.model import Step
from agent.journey.variables import TemplateRenderError
from agent.probe.artifacts import drop_secret_holders
from agent.probe.browser.actions import ACTIONS, ActionFailed, Call, classify, describe, target_of
from agent.probe.browser.run import BrowserRun, open_run
from agent.probe.context import RunContext
from agent.probe.result import ErrorType, Outcome, StepResult

DEFAULT_ACTION_TIMEOUT = 15.0
DEFAULT_EXPECT_TIMEOUT = 5.0  # expect_* wait for the page to show it, as Playwright's expect does
SETUP_MARGIN = 0.05  # end our own waits this much before the runner's timeout would
ARTIFACT_RESERVE = 3.0  # kept for failure artifacts: at most this, at most a quarter of what is left
SETUP_SHARE = 0.5  # a timeout after a setup that took more than this share of the step is the agent's
SECRET_TRACE_NOTE = "the trace was dropped: this run typed or sent a secret"


def step_limit(step: Step, ctx: RunContext) -> tuple[float, bool]:
    """Seconds the step may take, as the runner computes it, and whether the run's deadline sets it."""
    remaining = ctx.remaining()
    if step.step_timeout is None or step.step_timeout >= remaining:
        return remaining, True
    return step.step_timeout, False


async def execute(step: Step, ctx: RunContext) -> StepResult:
    assert step.browser is not None
    loop = asyncio.get_running_loop()
    limit, by_deadline = step_limit(step, ctx)
    step_end = loop.time() + limit - SETUP_MARGIN
    setup_started = time.perf_counter()
    run = await open_run(ctx, max(0.0, step_end - loop.time()))
    started = time.perf_counter()
    setup_s = started - setup_started
    run.until = step_end
    actions_end = step_end - min(ARTIFACT_RESERVE, 0.25 * max(0.0, step_end - loop.time()))
    vitals_from = len(run.vitals)
    records: list[dict[str, Any]] = []
    artifacts: list[str] = []
    failure: ActionFailed | None = None
    for action in step.browser:
        if failure is not None:
            records.append({"action": action.action, **target_of(action.action, dict(action.options)),
                            "outcome": Outcome.SKIPPED.value})
            continue
        record, failure = await _perform(action, step, ctx, run, actions_end, by_deadline, artifacts)
        records.append(record)
    await run.snapshot_vitals()
    leftover = run.take_events()
    if leftover and records:
        records[-1].setdefault("page_errors", []).extend(leftover)
    duration = time.perf_counter() - started
    if failure is not None and failure.outcome is Outcome.TIMEOUT and setup_s > SETUP_SHARE * limit:
        failure = ActionFailed(failure.outcome, failure.error_type,
                               f"{failure}; the browser took {setup_s:.1f}s of the step's {limit:.1f}s "
                               "to get ready (slot wait or launch)", agent_side=True)
    redactor = ctx.variables.redactor
    if failure is not None:
        captured = await run.capture_failure(step.name, step_end)
        artifacts.extend(await asyncio.to_thread(drop_secret_holders, captured, redactor))
    return StepResult(
        step.name, failure.outcome if failure else Outcome.SUCCESS, duration, kind="browser",
        status=run.status, error=redactor.text(str(failure)) if failure else None,
        error_type=failure.error_type if failure else None,
        actions=tuple(redactor.deep(r) for r in records), artifacts=tuple(artifacts),
        vitals=tuple(redactor.deep(v) for v in run.vitals.take(vitals_from)),
        agent_side=bool(failure and failure.agent_side))


async def _perform(action: BrowserAction, step: Step, ctx: RunContext, run: BrowserRun, actions_end: float,
                   by_deadline: bool, artifacts: list[str]) -> tuple[dict[str, Any], ActionFailed | None]:
    """Run one action; its entry for `StepResult.actions` and, when it did not succeed, why."""
    name = action.action
    raw = dict(action.options)
    try:
        values = {k: ctx.variables.render(v) if isinstance(v, str) else v for k, v in raw.items()}
    except TemplateRenderError as exc:
        failure = ActionFailed(Outcome.ERROR, ErrorType.TEMPLATE, f"{describe(name, raw)}: {exc}")
        return _record(name, raw, failure, 0.0, {}), failure
    await _guard_secrets(name, values, ctx, run)
    loop = asyncio.get_running_loop()
    default = DEFAULT_EXPECT_TIMEOUT if name.startswith("expect_") else DEFAULT_ACTION_TIMEOUT
    own = action.timeout if action.timeout is not None else default
    left = actions_end - loop.time()
    timeout = min(own, left)
    bound = "action" if own <= left else ("run" if by_deadline else "step")
    call = Call(run, step.name, values, timeout)
    started = time.perf_counter()
    failed: ActionFailed | None = None
    try:
        if timeout <= 0:
            raise ActionFailed(Outcome.TIMEOUT, ErrorType.DEADLINE if by_deadline else ErrorType.TIMEOUT,
                               f"{describe(name, values)}: no time left for it")
        await ACTIONS[name](call, action.options)
    except ActionFailed as exc:
        failed = exc
    except Exception as exc:
        failed = await _explain(name, values, exc, call, bound, by_deadline)
    elapsed = time.perf_counter() - started
    artifacts.extend(call.artifacts)
    if name not in ("fill", "select", "screenshot"):  # the ones that may load or change a page
        await run.snapshot_vitals()
    return _record(name, values, failed, elapsed, call.info, run.take_events()), failed


async def _guard_secrets(name: str, values: dict[str, Any], ctx: RunContext, run: BrowserRun) -> None:
    """A secret typed or sent by an action: mask its field in screenshots and drop the trace for good."""
    redactor = ctx.variables.redactor
    if not redactor or not any(isinstance(v, str) and redactor.text(v) != v for v in values.values()):
        return
    await run.stop_tracing(SECRET_TRACE_NOTE)
    selector = values.get("selector")
    if name in ("fill", "press", "select") and isinstance(selector, str):
        run.secret_selectors.append(selector)


async def _explain(name: str, values: dict[str, Any], exc: Exception, call: Call, bound: str,
                   by_deadline: bool) -> ActionFailed:
    instance = call.run.lease.instance
    alive = await _browser_alive(instance, exc)
    failure = classify(describe(name, values), exc, timeout=call.timeout, bound=bound,
                       deadline_bound=by_deadline and bound != "action", browser_alive=alive)
    if failure.outcome is Outcome.TIMEOUT and alive:
        if name == "goto":
            detail = f' waiting for "{values.get("wait_until", "load")}"'
        else:
            shows = await call.run.page_text()
            detail = f' on {call.page.url}; the page shows: "{shows}"'
        failure = ActionFailed(failure.outcome, failure.error_type, str(failure) + detail,
                               agent_side=failure.agent_side)
    return failure


async def _browser_alive(instance: Any, exc: Exception) -> bool:
    """Whether the browser still runs; a "closed" error waits a moment for the disconnect to show."""
    if instance.dead or not instance.browser.is_connected():
        return False
    if "closed" not in str(exc).lower():
        return True
    for _ in range(10):
        await asyncio.sleep(0.1)
        if instance.dead or not instance.browser.is_connected():
            return False
    return True


def _record(name: str, values: dict[str, Any], failure: ActionFailed | None, elapsed: float,
            info: dict[str, Any], events: list[str] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"action": name, **target_of(name, values),
                              "outcome": failure.outcome.value if failure else Outcome.SUCCESS.value,
                              "duration_s": round(elapsed, 4), **info}
    if failure is not None:
        record["error"] = str(failure)
    if events:
        record["page_errors"] = events
    return record
