"""The run observer when no span goes anywhere (Prometheus alone, the default): ids, headers, metrics.

`RunSpans` builds OpenTelemetry spans, contexts and attributes (the redacted URL, the server)
for every run, step and request. With no span exporter none of that is read: what is left is
the run's trace id (kept with the result), a span id per step (the browser's requests), the
`traceparent`/`tracestate` headers of each request (the target's traces join the run's) and,
for journeys at `requests` detail, the HTTP client histogram. `IdsOnly` does only that, with
the same ids and headers `RunSpans` would send, at a fraction of its cost per run.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.core import metric_names as n

if TYPE_CHECKING:
    from agent.journey.model import Journey, Step
    from agent.journey.variables import Variables
    from agent.probe.http.timing import RequestTiming
    from agent.probe.result import RunResult, StepResult
    from exporters.tracing import SpanHooks


@dataclass(slots=True)
class _Request:
    started: float
    method: str
    url: str  # the first hop's: the journey's own


def _id(bits: int) -> int:
    return random.getrandbits(bits) or 1


class IdsOnly:
    """`RunObserver` and `RequestObserver` of one run that records no span."""

    __slots__ = ("_hooks", "_journey", "_step_name", "_trace_id")

    def __init__(self, hooks: SpanHooks) -> None:
        self._hooks = hooks
        self._journey: Journey | None = None
        self._trace_id = ""
        self._step_name = ""

    # -- RunObserver ------------------------------------------------------------------------------
    def run_started(self, journey: Journey, attempt: int, variables: Variables) -> tuple[str, IdsOnly]:
        self._journey = journey
        self._trace_id = f"{_id(128):032x}"
        return self._trace_id, self

    def step_started(self, step: Step) -> str | None:
        self._step_name = step.name
        return f"{_id(64):016x}"

    def step_finished(self, step: Step, result: StepResult) -> None:
        return None

    def run_finished(self, result: RunResult) -> None:
        return None

    # -- RequestObserver --------------------------------------------------------------------------
    def request_started(self, timing: RequestTiming, method: str, url: str, headers: Any) -> None:
        if not isinstance(timing.observed, _Request):
            timing.observed = _Request(time.perf_counter(), method, url)
        else:  # a redirect hop: the clock runs on; its host and port are the target's choice, never a label
            timing.observed.method = method
        journey = self._journey
        if journey is None or journey.traceparent:
            headers["traceparent"] = f"00-{self._trace_id}-{_id(64):016x}-01"
            if self._hooks.tracestate:
                headers["tracestate"] = self._hooks.tracestate

    def request_finished(self, timing: RequestTiming, status: int | None, error_type: str | None) -> None:
        request = timing.observed
        requests = self._hooks.requests
        if not isinstance(request, _Request) or requests is None or not requests.wants(self._journey):
            return
        address, port = n.server_of(request.url)
        metric: dict[str, Any] = {n.HTTP_METHOD: n.http_method(request.method), n.SERVER_ADDRESS: address}
        if port is not None:
            metric[n.SERVER_PORT] = port
        if status is not None:
            metric[n.HTTP_STATUS] = status
        error = error_type or (str(status) if status is not None and status >= 400 else None)
        if error:
            metric[n.ERROR_TYPE] = error
        journey = self._journey
        metric.update({n.JOURNEY_NAME: journey.name if journey else "", n.JOURNEY_STEP: self._step_name,
                       **n.label_attributes(journey.labels if journey else {})})
        took = timing.duration_s or time.perf_counter() - request.started
        requests.record_request(journey, took, metric, None)
