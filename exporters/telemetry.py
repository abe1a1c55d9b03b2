"""The agent's OpenTelemetry: one MeterProvider and one TracerProvider, the journey instruments.

Not the global providers: each agent (and each test) builds its own `Telemetry`. Metrics go
to the Prometheus reader (`/metrics`) and, when configured, a PeriodicExportingMetricReader
over OTLP; spans go to a BatchSpanProcessor over OTLP. Every export runs in the SDK's own
threads with bounded queues and timeouts, so a slow or absent collector never slows a run.

Run metrics are recorded once per finished run (after retries, as the store counts them),
in the context of the run's root span, so histogram points carry its trace id as exemplar.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Histogram, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan

from agent import __version__
from agent.core import metric_names as n
from agent.probe.result import Outcome, RunResult
from agent.probe.trace_context import SYNTHETIC_TRACESTATE
from exporters.otlp import ExportFailures, OtlpSettings, build_exporters, otlp_enabled, resolve
from exporters.self_metrics import Health, register_self_metrics
from exporters.slo_counters import SloCounters
from exporters.tracing import IdOnlyTracer, RootContexts, RunSpans, SpanHooks

if TYPE_CHECKING:
    from agent.config.models import AgentConfig
    from agent.journey.model import Journey
    from exporters.prometheus import PrometheusEndpoint

log = logging.getLogger("journeyprobe.telemetry")
SloSample = tuple[str, dict[str, Any], float]
"""(instrument name, attributes, value) as an SLO gauge callback returns them."""


class Telemetry:
    """Meters, tracer and exporters of one agent; `record` is the daemon's metrics sink."""

    def __init__(self, *, location: str = "", tracestate: str | None = SYNTHETIC_TRACESTATE,
                 prometheus: bool = True, otlp: OtlpSettings | None = None, instance_id: str | None = None,
                 metric_readers: Sequence[MetricReader] = (), span_exporters: Sequence[SpanExporter] = (),
                 span_queue_size: int = 2048) -> None:
        self.location = location
        self.failures = ExportFailures()
        self.otlp = otlp
        self.resource = _resource(location, instance_id)
        readers = list(metric_readers)
        self.prometheus: PrometheusEndpoint | None = None
        if prometheus:
            from exporters.prometheus import PrometheusEndpoint

            self.prometheus = PrometheusEndpoint()
            readers.append(self.prometheus.reader)
        span_exporter = None
        self._push: MetricReader | None = None
        if otlp is not None:
            metric_exporter, span_exporter = build_exporters(otlp, self.failures)
            self._push = PeriodicExportingMetricReader(
                metric_exporter, export_interval_millis=otlp.interval_s * 1000,
                export_timeout_millis=otlp.timeout_s * 1000 + 1000)
            readers.append(self._push)
        # Exemplars (trace ids on histogram points) reach OTLP only: the Prometheus text format
        # carries none, so with Prometheus alone they would be work for nothing on every run.
        exemplars = otlp is not None or bool(metric_readers)
        self.meter_provider = MeterProvider(
            resource=self.resource, metric_readers=readers, shutdown_on_exit=False,
            exemplar_filter=TraceBasedExemplarFilter() if exemplars else AlwaysOffExemplarFilter(),
            views=[*(View(instrument_type=Histogram, instrument_name=name,
                          aggregation=ExplicitBucketHistogramAggregation(n.DURATION_BUCKETS))
                     for name in (n.JOURNEY_DURATION, n.JOURNEY_STEP_DURATION, n.HTTP_CLIENT_DURATION,
                                  n.BROWSER_VITAL)),
                   View(instrument_type=Histogram, instrument_name=n.BROWSER_LAYOUT_SHIFT,
                        aggregation=ExplicitBucketHistogramAggregation(n.LAYOUT_SHIFT_BUCKETS))])
        self.tracer_provider = TracerProvider(resource=self.resource, sampler=ParentBased(ALWAYS_ON),
                                              shutdown_on_exit=False)
        for exporter in [*span_exporters, *([span_exporter] if span_exporter else [])]:
            self.tracer_provider.add_span_processor(BatchSpanProcessor(
                exporter, max_queue_size=span_queue_size, max_export_batch_size=min(512, span_queue_size),
                export_timeout_millis=(otlp.timeout_s if otlp else 10.0) * 1000))
        self._pipelines = [s for s, on in (("otlp.metrics", otlp is not None),
                                           ("otlp.traces", span_exporter is not None)) if on]
        meter = self.meter = self.meter_provider.get_meter(n.METER_NAME, __version__)
        self.runs = meter.create_counter(n.JOURNEY_RUNS, unit="{run}",
                                         description="Finished journey runs by outcome.")
        self.duration = meter.create_histogram(n.JOURNEY_DURATION, unit="s",
                                               description="Duration of journey runs.")
        self.slo_counters = SloCounters(meter, location, self.runs)  # slo_events_total & co, for the rules
        self.step_duration = meter.create_histogram(n.JOURNEY_STEP_DURATION, unit="s",
                                                    description="Duration of the steps of journey runs.")
        # read at collection time: a dict write per run instead of an SDK measurement
        self._last_success: dict[tuple[Any, ...], tuple[dict[str, Any], int]] = {}
        meter.create_observable_gauge(n.JOURNEY_SUCCESS, [self._observe_success],
                                      description="1 if the journey's last run succeeded, else 0.")
        self.http_duration = meter.create_histogram(n.HTTP_CLIENT_DURATION, unit="s",
                                                    description="Duration of HTTP client requests.")
        self.vital = meter.create_histogram(n.BROWSER_VITAL, unit="s",
                                            description="Web vitals of pages browser steps load (timings).")
        self.layout_shift = meter.create_histogram(n.BROWSER_LAYOUT_SHIFT, unit="1",
                                                   description="Cumulative layout shift of pages browser steps load.")
        self.roots = RootContexts()
        exporting = bool(span_exporters) or span_exporter is not None
        tracer: Any = (self.tracer_provider.get_tracer(n.METER_NAME, __version__) if exporting
                       else IdOnlyTracer())
        self.hooks = SpanHooks(tracer, self.http_duration, location, tracestate, self.roots)
        self._slo_callbacks: list[Callable[[], Iterable[SloSample]]] = []
        self._closed = False

    @classmethod
    def from_config(cls, config: AgentConfig) -> Telemetry:
        """Prometheus as `exporters.prometheus` says; OTLP if configured (or OTEL_EXPORTER_OTLP_ENDPOINT)."""
        exporters = config.exporters
        otlp = resolve(exporters.otlp) if otlp_enabled(exporters.otlp) else None
        return cls(location=config.location, tracestate=config.probe.tracestate,
                   prometheus=exporters.prometheus, otlp=otlp)

    # -- the runner's and the daemon's hooks --------------------------------------------------------
    def observer(self) -> RunSpans:
        """A fresh observer for one run: pass `telemetry.observer` as the Runner's `observer_factory`."""
        return RunSpans(self.hooks)

    def record(self, result: RunResult, journey: Journey | None = None) -> None:
        """Record one finished run: runs counter, durations, last-run gauge (the daemon's sink)."""
        labels = journey.labels if journey is not None else result.labels
        location = result.location or self.location
        base: dict[str, Any] = {n.JOURNEY_NAME: result.journey, n.PROBE_LOCATION: location,
                                **n.label_attributes(labels)}
        outcome = result.outcome.value
        root = self.roots.pop(result.trace_id)
        context = trace.set_span_in_context(NonRecordingSpan(root)) if root is not None else None
        runs = {**base, n.JOURNEY_OUTCOME: outcome}
        if result.error_type:
            runs[n.ERROR_TYPE] = result.error_type
        self.runs.add(1, runs)
        self.duration.record(result.duration_s, {**base, n.JOURNEY_OUTCOME: outcome}, context=context)
        for step in result.steps:
            if step.outcome is Outcome.SKIPPED:
                continue
            attributes = {**base, n.JOURNEY_STEP: step.name, n.JOURNEY_OUTCOME: step.outcome.value}
            self.step_duration.record(step.duration_s, attributes, context=context)
            self._record_vitals(step.vitals, {**base, n.JOURNEY_STEP: step.name}, context)
        self._last_success[tuple(base.items())] = (base, 1 if result.passed else 0)

    def _observe_success(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, attributes) for attributes, value in list(self._last_success.values())]

    def _record_vitals(self, vitals: Iterable[dict[str, Any]], attributes: dict[str, Any], context: Any) -> None:
        """`journey.browser.vital{vital=ttfb|fcp|lcp|dom_content_loaded|load}`; CLS, a score, apart."""
        for page in vitals:
            for key, value in page.items():
                if value is None or not isinstance(value, (int, float)):
                    continue
                if key == "cls":
                    self.layout_shift.record(value, attributes, context=context)
                elif key.endswith("_s"):
                    self.vital.record(value, {**attributes, n.VITAL: key[:-2]}, context=context)

    def metrics(self) -> tuple[bytes, str]:
        """The Prometheus exposition (for `state.metrics`); empty when Prometheus is off."""
        if self.prometheus is None:
            return b"", "text/plain; charset=utf-8"
        return self.prometheus.render()

    def watch(self, health: Callable[[], Health], sinks: Iterable[str] = ()) -> None:
        """Publish the agent's own health as `journeyprobe.*` metrics; `sinks`: those besides the store."""
        register_self_metrics(self.meter, health, self.failures.counts, self._pipelines, sinks)

    def register_slo_gauges(self, callback: Callable[[], Iterable[SloSample]]) -> None:
        """Add a source of SLO gauge values: `callback()` -> [(name, attributes, value)].

        Names are `slo.objective`, `slo.sli`, `slo.error_budget.remaining`, `slo.burn_rate`
        (Prometheus: `slo_*_ratio`); every value also gets this agent's `probe.location`. The
        callback runs in exporter threads and the /metrics handler, once per gauge and collection:
        return a snapshot, quickly, without awaiting.
        """
        first = not self._slo_callbacks
        self._slo_callbacks.append(callback)
        if not first:
            return
        descriptions = {n.SLO_OBJECTIVE: "Objective of the SLO (0..1).",
                        n.SLO_SLI: "Measured SLI over the window (0..1).",
                        n.SLO_BUDGET_REMAINING: "Part of the error budget left over the SLO's period.",
                        n.SLO_BURN_RATE: "Error budget burn rate over the window (1 = exactly on budget)."}
        for name, description in descriptions.items():
            self.meter.create_observable_gauge(name, [self._slo_observer(name)], unit="1",
                                               description=description)

    def _slo_observer(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            out: list[Observation] = []
            for callback in list(self._slo_callbacks):
                try:
                    samples = list(callback())
                except Exception:  # a broken source must not break the other metrics
                    log.exception("an SLO gauge callback failed")
                    continue
                out.extend(Observation(value, {n.PROBE_LOCATION: self.location, **attrs})
                           for sample_name, attrs, value in samples if sample_name == name)
            return out
        return observe

    # -- shutting down ------------------------------------------------------------------------------
    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Export pending spans and metrics now, side by side, waiting at most `timeout_s`."""
        millis = int(timeout_s * 1000)
        push = self._push  # not the Prometheus reader: what it collects waits for the next scrape
        work: list[Callable[[], object]] = [lambda: self.tracer_provider.force_flush(millis)]
        if push is not None:
            work.append(lambda: push.force_flush(millis))
        return _bounded(work, timeout_s)

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Flush and stop both providers; gives up after `timeout_s` (the SDK threads are daemons)."""
        if self._closed:
            return True
        self._closed = True
        millis = int(timeout_s * 1000)
        finished = _bounded([self.tracer_provider.shutdown,
                             lambda: self.meter_provider.shutdown(timeout_millis=millis)], timeout_s)
        if not finished:
            log.warning("telemetry did not finish exporting within %.0fs; the rest is dropped", timeout_s)
        return finished

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """`shutdown` without blocking the event loop (for the daemon's closers)."""
        done = asyncio.get_running_loop().create_future()

        def worker() -> None:
            self.shutdown(timeout_s)
            done.get_loop().call_soon_threadsafe(_resolve, done)
        threading.Thread(target=worker, name="journeyprobe-telemetry-close", daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout_s + 1.0)
        except TimeoutError:
            pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _bounded(work: Sequence[Callable[[], object]], timeout_s: float) -> bool:
    """Run each callable in its own daemon thread, side by side; True if all finished within `timeout_s`."""
    threads = [threading.Thread(target=w, name="journeyprobe-telemetry-flush", daemon=True) for w in work]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def _resource(location: str, instance_id: str | None) -> Resource:
    """service.name=journeyprobe, service.version, service.instance.id, probe.location."""
    attributes: dict[str, Any] = {"service.name": "journeyprobe", "service.version": __version__,
                                  n.PROBE_LOCATION: location}
    if instance_id:
        attributes["service.instance.id"] = instance_id
    resource = Resource.create(attributes)
    if "service.instance.id" not in resource.attributes:
        resource = resource.merge(Resource({"service.instance.id": str(uuid.uuid4())}))
    return resource
