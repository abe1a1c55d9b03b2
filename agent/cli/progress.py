"""What `check` is doing right now: which journeys and steps run, and for how long.

`Progress` is the state, fed by a `ProgressObserver` per run (the runner's observer hooks, in front of
telemetry's when `--otlp` is on). A view (agent.cli.progress_view) shows it: a rich Live display on
a terminal, plain lines otherwise. The views read a snapshot taken under a lock, so that rich's
refresh thread never sees a half-updated state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from agent.journey.model import Journey, Step
from agent.journey.variables import Variables
from agent.probe.context import RequestObserver
from agent.probe.result import RunResult, StepResult
from agent.probe.runner import NOT_RETRIED, RunObserver
from agent.probe.trace_context import new_trace_id


@dataclass(frozen=True)
class Running:
    """One run in flight."""

    journey: str
    attempt: int
    started: float
    steps_total: int
    attempts: int = 1
    step: str | None = None
    step_index: int = 0
    step_started: float = 0.0


class View(Protocol):
    def run_started(self, run: Running) -> None: ...

    def step_started(self, run: Running) -> None: ...

    def step_finished(self, run: Running, result: StepResult) -> None: ...

    def run_finished(self, result: RunResult, final: bool) -> None:
        """`final`: no other attempt follows."""


class Progress:
    """The runs in flight and the results so far, for a view to show."""

    def __init__(self, total: int, view: View | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.view = view
        self.clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._running: dict[int, Running] = {}
        self._finished: list[RunResult] = []

    def snapshot(self) -> tuple[list[Running], list[RunResult]]:
        with self._lock:
            return list(self._running.values()), list(self._finished)

    def observer_factory(self, inner: Callable[[], Any] | None = None) -> Callable[[], ProgressObserver]:
        """For `Runner.observer_factory`: one observer per run, passing each hook on to `inner`'s."""
        return lambda: ProgressObserver(self, inner() if callable(inner) else None)

    def _update(self, key: int, run: Running | None, result: RunResult | None = None) -> None:
        with self._lock:
            if run is None:
                self._running.pop(key, None)
            else:
                self._running[key] = run
            if result is not None:
                self._finished.append(result)


class ProgressObserver:
    """The runner's hooks for one run (RunObserver), reported to `Progress` and then to `inner`."""

    def __init__(self, progress: Progress, inner: RunObserver | None) -> None:
        self.progress = progress
        self.inner = inner
        self.run: Running | None = None
        self._steps: list[str] = []
        self._variables: Variables | None = None

    def run_started(self, journey: Journey, attempt: int,
                    variables: Variables) -> tuple[str, RequestObserver | None]:
        self._steps = [s.name for s in journey.steps]
        self._variables = variables  # its redactor: a step's result reaches the hooks before redaction
        self.run = Running(journey.name, attempt, self.progress.clock(), len(journey.steps), journey.retry.attempts)
        self.progress._update(id(self), self.run)
        if self.progress.view:
            self.progress.view.run_started(self.run)
        return self.inner.run_started(journey, attempt, variables) if self.inner else (new_trace_id(), None)

    def step_started(self, step: Step) -> str | None:
        if self.run is not None:
            index = self._steps.index(step.name) if step.name in self._steps else 0
            self.run = replace(self.run, step=step.name, step_index=index, step_started=self.progress.clock())
            self.progress._update(id(self), self.run)
            if self.progress.view:
                self.progress.view.step_started(self.run)
        return self.inner.step_started(step) if self.inner else None

    def step_finished(self, step: Step, result: StepResult) -> None:
        if self.inner:
            self.inner.step_finished(step, result)
        if self.run is not None and self.progress.view:
            redactor = self._variables.redactor if self._variables else None
            shown = replace(result, error=redactor.optional(result.error)) if redactor else result
            self.progress.view.step_finished(self.run, shown)

    def run_finished(self, result: RunResult) -> None:
        if self.inner:
            self.inner.run_finished(result)
        final = result.passed or self.run is None or result.attempt >= self.run.attempts or \
            result.error_type in NOT_RETRIED
        self.progress._update(id(self), None, result if final else None)
        if self.progress.view:
            self.progress.view.run_finished(result, final)
