"""One run of one journey: steps in order under the run's deadline, retries, the result."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from agent.journey.env_refs import EnvReference, missing_environment
from agent.journey.model import Journey, Step
from agent.journey.variables import TemplateRenderError, Variables
from agent.probe.context import ProbeResources, ProbeSettings, RequestObserver, RunContext, StepError
from agent.probe.executors import executor_for
from agent.probe.faults import exception_text
from agent.probe.result import AttemptSummary, ErrorType, Outcome, RunResult, StepResult
from agent.probe.trace_context import new_trace_id

log = logging.getLogger("journeyprobe.runner")
BACKSTOP_S = {"browser": 1.0}
"""Step kinds that end their own waits before the step's limit, to say which action timed out and keep
a failure screenshot: the runner's timeout is only their backstop, this much later (a loaded host can
make the browser overrun its own deadline by a little)."""
NOT_RETRIED = (ErrorType.CANCELLED, ErrorType.MISSING_ENV)  # another attempt ends the same way


class RunObserver(Protocol):
    """Telemetry's hooks into a run (spans); None when telemetry is off."""

    def run_started(self, journey: Journey, attempt: int,
                    variables: Variables) -> tuple[str, RequestObserver | None]:
        """Begin the run's span; return its trace id and the per-request observer.

        `variables.redactor` removes the run's secrets from whatever the observer records (the step
        results it is given are not redacted yet; `run_finished` gets the redacted result)."""
        ...

    def step_started(self, step: Step) -> str | None: ...

    def step_finished(self, step: Step, result: StepResult) -> None: ...

    def run_finished(self, result: RunResult) -> None: ...


class Runner:
    """Runs journeys; holds what is shared across runs (settings, environment, telemetry)."""

    def __init__(self, settings: ProbeSettings | None = None, *, environ: Mapping[str, str] | None = None,
                 overrides: Mapping[str, str] | None = None, observer_factory: object | None = None) -> None:
        self.settings = settings or ProbeSettings()
        self.environ = environ
        self.overrides = dict(overrides or {})
        self.observer_factory = observer_factory
        self.resources = ProbeResources()
        self.internal_errors = 0  # steps the agent itself failed (journeyprobe.internal_errors)

    async def run(self, journey: Journey) -> RunResult:
        """Run the journey, retrying a failed run as `retry` says; earlier attempts stay in the result."""
        earlier: list[AttemptSummary] = []
        attempt = 1
        while True:
            result = await self.run_once(journey, attempt)
            last = attempt >= journey.retry.attempts or result.error_type in NOT_RETRIED
            if result.passed or last:
                return replace(result, earlier_attempts=tuple(earlier)) if earlier else result
            earlier.append(AttemptSummary(attempt, result.outcome, result.error_type, result.error,
                                          result.trace_id))
            attempt += 1
            if journey.retry.delay:
                await asyncio.sleep(journey.retry.delay)

    async def run_once(self, journey: Journey, attempt: int = 1) -> RunResult:
        loop = asyncio.get_running_loop()
        observer = self._observer()
        variables = Variables(self.environ)
        trace_id, request_observer = (observer.run_started(journey, attempt, variables) if observer
                                      else (new_trace_id(), None))
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        ctx = RunContext(journey=journey, variables=variables, trace_id=trace_id,
                         deadline=loop.time() + journey.timeout, settings=self.settings,
                         resources=self.resources, observer=request_observer)
        steps: list[StepResult] = []
        cancelled = False
        try:
            steps, cancelled = await self._steps(journey, ctx, observer)
        finally:
            await asyncio.shield(ctx.aclose())
        failed = next((s for s in steps if s.outcome is not Outcome.SUCCESS), None)
        result = RunResult(
            journey=journey.name,
            outcome=failed.outcome if failed else Outcome.SUCCESS,
            error_type=(ErrorType.CANCELLED if cancelled else failed.error_type) if failed else None,
            started_at=started_at,
            duration_s=time.perf_counter() - started,
            trace_id=trace_id,
            location=self.settings.location,
            attempt=attempt,
            steps=tuple(steps),
            agent_side=bool(failed and failed.agent_side),
            labels=dict(journey.labels),
        )
        result = ctx.variables.redactor.deep(result)  # the one place a result is redacted: outputs take it so
        if observer:
            observer.run_finished(result)
        return result

    def _observer(self) -> RunObserver | None:
        factory = self.observer_factory
        return factory() if callable(factory) else None  # type: ignore[no-any-return]

    async def _steps(self, journey: Journey, ctx: RunContext,
                     observer: RunObserver | None) -> tuple[list[StepResult], bool]:
        results: list[StepResult] = []
        missing = missing_environment(journey, ctx.variables.environ, self.overrides)
        if missing:
            first = StepResult(journey.steps[0].name, Outcome.ERROR, kind=journey.steps[0].kind,
                               error=missing_message(missing), error_type=ErrorType.MISSING_ENV, agent_side=True)
            return [first, *_skipped(journey.steps[1:])], False
        try:
            ctx.variables.define(journey.variables, self.overrides)
        except TemplateRenderError as exc:
            first = StepResult(journey.steps[0].name, Outcome.ERROR, kind=journey.steps[0].kind,
                               error=str(exc), error_type=ErrorType.TEMPLATE)
            return [first, *_skipped(journey.steps[1:])], False
        for index, step in enumerate(journey.steps):
            if observer:
                ctx.step_span_id = observer.step_started(step)
            try:
                result = await self._step(step, ctx)
            except asyncio.CancelledError:
                result = StepResult(step.name, Outcome.ERROR, kind=step.kind, error_type=ErrorType.CANCELLED,
                                    error="the run was cancelled (the agent is stopping)", agent_side=True)
                results.append(result)
                if observer:
                    observer.step_finished(step, result)
                results.extend(_skipped(journey.steps[index + 1:]))
                return results, True
            results.append(result)
            if observer:
                observer.step_finished(step, result)
            if result.outcome is not Outcome.SUCCESS:
                results.extend(_skipped(journey.steps[index + 1:]))
                break
        return results, False

    async def _step(self, step: Step, ctx: RunContext) -> StepResult:
        remaining = ctx.remaining()
        limit = min(step.step_timeout, remaining) if step.step_timeout else remaining
        by_deadline = step.step_timeout is None or step.step_timeout >= remaining
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit + BACKSTOP_S.get(step.kind, 0.0)):
                return await executor_for(step.kind)(step, ctx)
        except TimeoutError:
            what = (f"the journey's deadline ({ctx.journey.timeout:g}s) passed" if by_deadline
                    else f"no answer within the step timeout ({limit:g}s)")
            return StepResult(step.name, Outcome.TIMEOUT, time.perf_counter() - started, kind=step.kind,
                              error=what, error_type=ErrorType.DEADLINE if by_deadline else ErrorType.TIMEOUT)
        except StepError as exc:
            return StepResult(step.name, Outcome.ERROR, time.perf_counter() - started, kind=step.kind,
                              error=str(exc), error_type=exc.error_type, agent_side=exc.agent_side)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a fault of the agent itself: executors classify what the target caused
            self.internal_errors += 1
            log.exception("step %r of journey %r failed inside the agent", step.name, ctx.journey.name)
            return StepResult(step.name, Outcome.ERROR, time.perf_counter() - started, kind=step.kind,
                              error=f"internal error: {exception_text(exc)}",
                              error_type=ErrorType.INTERNAL, agent_side=True)


def missing_message(missing: list[EnvReference]) -> str:
    names = ", ".join(r.name for r in missing)
    return (f"not set in the agent's environment: {names} (read as {', '.join(map(str, missing))}); "
            "the target was not contacted")


def _skipped(steps: list[Step]) -> list[StepResult]:
    return [StepResult(s.name, Outcome.SKIPPED, kind=s.kind) for s in steps]

