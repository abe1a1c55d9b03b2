"""Spans of a run: `journey NAME` (root) -> `step NAME` -> one HTTP CLIENT span per request hop.

`RunSpans` is both the runner's `RunObserver` and the steps' `RequestObserver`. The
`traceparent` each probe request carries is its CLIENT span's context, so the target's own
spans join the run's trace; `tracestate` marks the traffic as synthetic. Secrets never
reach a span: URLs lose their query values and pass through the run's redactor, and so do
error messages.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agent.core import metric_names as n
from agent.core import redaction
from agent.probe.result import Outcome, RunResult, StepResult
from agent.probe.trace_context import new_trace_id
from exporters.series_cap import SeriesCap

if TYPE_CHECKING:
    from agent.journey.model import Journey, Step
    from agent.journey.variables import Variables
    from agent.probe.http.timing import RequestTiming

PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(slots=True)
class _Request:
    """What the tracer keeps about one request in flight (on `RequestTiming.observed`)."""

    started: float
    span: Span | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)  # of the first hop: the journey's own URL

log = logging.getLogger("journeyprobe.telemetry")
_last_error = [0.0]


def _report(where: str) -> None:
    now = time.monotonic()
    if now - _last_error[0] >= 60.0:
        _last_error[0] = now
        log.exception("telemetry failed in %s; the run goes on without it", where)


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """A telemetry hook that never fails the probe: an error is logged (once a minute) and ignored."""
    @functools.wraps(method)
    def hook(*args: Any, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except Exception:  # a telemetry bug must not fail a customer journey
            _report(method.__name__)
    return hook


class RequestMetrics(Protocol):
    """Where `http.client.request.duration` goes, for the journeys whose detail asks for it."""

    def wants(self, journey: Journey | None) -> bool: ...

    def record_request(self, journey: Journey | None, duration_s: float, attributes: dict[str, Any],
                       span: Span | None) -> None: ...


@dataclass(frozen=True, slots=True)
class SpanHooks:
    """What the per-run observers share: the tracer, the request metrics, where roots go.

    `roots` is None when no metric reader takes exemplars: the run's root context is then not kept."""

    tracer: Tracer | IdOnlyTracer
    requests: RequestMetrics | None
    location: str
    tracestate: str | None
    roots: RootContexts | None
    series: SeriesCap = field(default_factory=SeriesCap)  # of http.client.request.duration, per journey


class IdOnlyTracer:
    """Spans that only carry ids, for when no span exporter is configured (Prometheus alone).

    The trace id kept with the result, the `traceparent` sent to the target and the exemplars stay;
    nothing is recorded, which saves about 100 µs a run (docs/benchmarks.md, F4)."""

    def start_span(self, name: str, context: Context | None = None, *args: Any, **kwargs: Any) -> Span:
        parent = trace.get_current_span(context).get_span_context() if context is not None else None
        trace_id = parent.trace_id if parent is not None and parent.is_valid else _random_id(16)
        return NonRecordingSpan(SpanContext(trace_id, _random_id(8), is_remote=False,
                                            trace_flags=TraceFlags(TraceFlags.SAMPLED)))


def _random_id(size: int) -> int:
    """A random id as the OpenTelemetry SDK's RandomIdGenerator makes them (no system call: ids are
    not secrets; `secrets` read /dev/urandom three times a run)."""
    return random.getrandbits(size * 8) or 1


class RootContexts:
    """Root span contexts of recent runs by trace id, so metrics recorded later get exemplars."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._contexts: OrderedDict[str, SpanContext] = OrderedDict()

    def add(self, context: SpanContext) -> None:
        self._contexts[format(context.trace_id, "032x")] = context
        while len(self._contexts) > self._size:
            self._contexts.popitem(last=False)

    def pop(self, trace_id: str) -> SpanContext | None:
        return self._contexts.pop(trace_id, None)


class RunSpans:
    """The spans of one run (one attempt); a new one is made for every run."""

    def __init__(self, hooks: SpanHooks) -> None:
        self._hooks = hooks
        self._journey: Journey | None = None
        self._variables: Variables | None = None
        self._root: Span | None = None
        self._step: Span | None = None
        self._step_name = ""
        self._labels: dict[str, str] = {}

    # -- RunObserver ------------------------------------------------------------------------------
    def run_started(self, journey: Journey, attempt: int,
                    variables: Variables) -> tuple[str, RunSpans | None]:
        self._journey, self._variables = journey, variables
        self._labels = n.label_attributes(journey.labels)
        try:
            self._root = self._hooks.tracer.start_span(
                f"journey {journey.name}", kind=SpanKind.INTERNAL,
                attributes={n.JOURNEY_NAME: journey.name, n.PROBE_LOCATION: self._hooks.location,
                            "journey.attempt": attempt})
            return format(self._root.get_span_context().trace_id, "032x"), self
        except Exception:  # no spans for this run, but the run goes on
            _report("run_started")
            return new_trace_id(), None

    def step_started(self, step: Step) -> str | None:
        try:
            return self._step_started(step)
        except Exception:
            _report("step_started")
            return None

    def _step_started(self, step: Step) -> str | None:
        self._end_step()
        parent = trace.set_span_in_context(self._root) if self._root is not None else None
        self._step_name = step.name
        self._step = self._hooks.tracer.start_span(
            f"step {step.name}", context=parent, kind=SpanKind.INTERNAL,
            attributes={n.JOURNEY_NAME: self._name, n.JOURNEY_STEP: step.name,
                        "journey.step.kind": step.kind})
        return format(self._step.get_span_context().span_id, "016x")

    @guarded
    def step_finished(self, step: Step, result: StepResult) -> None:
        span = self._step
        if span is None:
            return
        span.set_attribute(n.JOURNEY_OUTCOME, result.outcome.value)
        if result.outcome is not Outcome.SUCCESS:
            _fail(span, result.error_type, self._redact(result.error or result.outcome.value))
        self._end_step()

    @guarded
    def run_finished(self, result: RunResult) -> None:
        self._end_step()
        root = self._root
        if root is None:
            return
        root.set_attribute(n.JOURNEY_OUTCOME, result.outcome.value)
        if not result.passed:
            _fail(root, result.error_type, self._redact(result.error or result.outcome.value))
        root.end()
        if self._hooks.roots is not None:
            self._hooks.roots.add(root.get_span_context())
        self._root = None

    # -- RequestObserver --------------------------------------------------------------------------
    @guarded
    def request_started(self, timing: RequestTiming, method: str, url: str, headers: Any) -> None:
        request = timing.observed if isinstance(timing.observed, _Request) else _Request(time.perf_counter())
        timing.observed = request
        if request.span is not None:  # a redirect: the previous hop ends as the next starts
            request.span.end()
            request.span = None
        parent = self._step or self._root
        address, port = n.server_of(url)
        attributes: dict[str, Any] = {n.HTTP_METHOD: n.http_method(method),
                                      n.URL_FULL: n.redacted_url(url, self._redact),
                                      n.SERVER_ADDRESS: address}
        if port is not None:
            attributes[n.SERVER_PORT] = port
        if attributes[n.HTTP_METHOD] == "_OTHER":
            attributes["http.request.method_original"] = method
        if timing.hops > 1:
            attributes[n.HTTP_RESEND_COUNT] = timing.hops - 1
        span = self._hooks.tracer.start_span(
            attributes[n.HTTP_METHOD] if attributes[n.HTTP_METHOD] != "_OTHER" else "HTTP",
            context=trace.set_span_in_context(parent) if parent is not None else None,
            kind=SpanKind.CLIENT, attributes=attributes)
        request.span, request.attributes = span, attributes
        if not request.server:  # a redirect's host and port are the target's choice: never a metric attribute
            request.server = {k: v for k, v in attributes.items() if k in (n.SERVER_ADDRESS, n.SERVER_PORT)}
        if self._journey is None or self._journey.traceparent:
            PROPAGATOR.inject(headers, context=trace.set_span_in_context(span))
            if self._hooks.tracestate:
                headers["tracestate"] = self._hooks.tracestate

    @guarded
    def request_finished(self, timing: RequestTiming, status: int | None, error_type: str | None) -> None:
        request = timing.observed if isinstance(timing.observed, _Request) else None
        span, attributes = (request.span, request.attributes) if request is not None else (None, {})
        if request is not None:
            request.span = None
        error = error_type or (str(status) if status is not None and status >= 400 else None)
        if span is not None:
            if status is not None:
                span.set_attribute(n.HTTP_STATUS, status)
            if error:
                _fail(span, error, error)
            span.end()
        requests = self._hooks.requests
        if requests is None or request is None or not requests.wants(self._journey):
            return
        metric: dict[str, Any] = {k: v for k, v in attributes.items() if k == n.HTTP_METHOD}
        metric.update(request.server)
        if status is not None:
            metric[n.HTTP_STATUS] = status
        if error:
            metric[n.ERROR_TYPE] = error
        metric.update({n.JOURNEY_NAME: self._name, n.JOURNEY_STEP: self._step_name, **self._labels})
        took = timing.duration_s or time.perf_counter() - request.started  # the step's figure once complete
        requests.record_request(self._journey, took, metric, span)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def _name(self) -> str:
        return self._journey.name if self._journey is not None else ""

    def _redact(self, text: str) -> str:
        redactor = self._variables.redactor if self._variables is not None else redaction.redactor()
        return redactor.text(text)

    def _end_step(self) -> None:
        if self._step is not None:
            self._step.end()
            self._step = None


def _fail(span: Span, error_type: str | None, message: str) -> None:
    if error_type:
        span.set_attribute(n.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, message))
