"""The agent's telemetry: the journeys' series for /metrics, OpenTelemetry metrics and spans for OTLP.

Not the global providers: each agent (and each test) builds its own `Telemetry`. /metrics is
written from `JourneySeries` (exporters/journey_series.py), not through the SDK. The SDK's
MeterProvider exists only when a reader takes its metrics (OTLP's PeriodicExportingMetricReader,
or a test's); spans go to a BatchSpanProcessor over OTLP. Every export runs in the SDK's own
threads with bounded queues and timeouts, so a slow or absent collector never slows a run.

Run metrics are recorded once per finished run (after retries, as the store counts them),
in the context of the run's root span, so OTLP histogram points carry its trace id as exemplar.
How many series a journey makes is its detail (docs/metrics.md, "What a journey costs").
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
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan

from agent import __version__
from agent.core import metric_names as n
from agent.probe.result import RunResult
from agent.probe.trace_context import SYNTHETIC_TRACESTATE
from exporters.ids_only import IdsOnly
from exporters.journey_series import JourneySeries, at_least, detail_of
from exporters.otel_metrics import EXPLICIT, OtelMetrics
from exporters.otlp import ExportFailures, OtlpSettings, build_exporters, otlp_enabled, resolve
from exporters.prometheus import SLO_FAMILIES, PrometheusEndpoint
from exporters.self_metrics import Health, register_self_metrics, self_readings
from exporters.slo_counters import SloCounters
from exporters.tracing import IdOnlyTracer, RootContexts, RunSpans, SpanHooks

if TYPE_CHECKING:
    from agent.config.models import AgentConfig
    from agent.journey.model import Journey

log = logging.getLogger("journeyprobe.telemetry")
SloSample = tuple[str, dict[str, Any], float]
"""(instrument name, attributes, value) as an SLO gauge callback returns them."""


class Telemetry:
    """Meters, tracer and exporters of one agent; `record` is the daemon's metrics sink."""

    def __init__(self, *, location: str = "", tracestate: str | None = SYNTHETIC_TRACESTATE,
                 prometheus: bool = True, otlp: OtlpSettings | None = None, instance_id: str | None = None,
                 metric_readers: Sequence[MetricReader] = (), span_exporters: Sequence[SpanExporter] = (),
                 span_queue_size: int = 2048, detail: str = n.DETAIL_BASIC) -> None:
        self.location = location
        self.detail = detail
        self.failures = ExportFailures()
        self.otlp = otlp
        self.resource = _resource(location, instance_id)
        self.series = JourneySeries(location, detail)
        self.prometheus = PrometheusEndpoint(self.series, self.resource.attributes) if prometheus else None
        readers = list(metric_readers)
        span_exporter = None
        self._push: MetricReader | None = None
        if otlp is not None:
            metric_exporter, span_exporter = build_exporters(otlp, self.failures)
            self._push = PeriodicExportingMetricReader(
                metric_exporter, export_interval_millis=otlp.interval_s * 1000,
                export_timeout_millis=otlp.timeout_s * 1000 + 1000)
            readers.append(self._push)
        # The SDK's instruments only when a reader takes them (OTLP, tests): /metrics has its own series.
        self.otel: OtelMetrics | None = None
        if readers:
            self.otel = OtelMetrics(self.resource, readers, exemplars=True,
                                    histograms=otlp.histograms if otlp is not None else EXPLICIT)
        self.tracer_provider = TracerProvider(resource=self.resource, sampler=ParentBased(ALWAYS_ON),
                                              shutdown_on_exit=False)
        for exporter in [*span_exporters, *([span_exporter] if span_exporter else [])]:
            self.tracer_provider.add_span_processor(BatchSpanProcessor(
                exporter, max_queue_size=span_queue_size, max_export_batch_size=min(512, span_queue_size),
                export_timeout_millis=(otlp.timeout_s if otlp else 10.0) * 1000))
        self._pipelines = [s for s, on in (("otlp.metrics", otlp is not None),
                                           ("otlp.traces", span_exporter is not None)) if on]
        # Exemplars (trace ids on histogram points) reach OTLP only: the root contexts are kept for them.
        self.roots = RootContexts() if self.otel is not None else None
        self.slo_counters = SloCounters(location)  # slo_events_total & co, for the rules
        if self.otel is not None:
            self.slo_counters.register(self.otel.meter, self.otel.runs)
        if self.prometheus is not None:
            self.prometheus.slo_counters = self.slo_counters
        exporting = bool(span_exporters) or span_exporter is not None
        self._spans = exporting or self.roots is not None  # else the run observer records no span at all
        tracer: Any = (self.tracer_provider.get_tracer(n.METER_NAME, __version__) if exporting
                       else IdOnlyTracer())
        self.hooks = SpanHooks(tracer, self, location, tracestate, self.roots)
        self._closed = False

    @classmethod
    def from_config(cls, config: AgentConfig) -> Telemetry:
        """Prometheus as `exporters.prometheus` says; OTLP if configured (or OTEL_EXPORTER_OTLP_ENDPOINT)."""
        exporters = config.exporters
        otlp = resolve(exporters.otlp) if otlp_enabled(exporters.otlp) else None
        return cls(location=config.location, tracestate=config.probe.tracestate,
                   prometheus=exporters.prometheus, otlp=otlp, detail=config.telemetry.detail)

    # -- the runner's and the daemon's hooks --------------------------------------------------------
    def observer(self) -> RunSpans | IdsOnly:
        """A fresh observer for one run: pass `telemetry.observer` as the Runner's `observer_factory`.

        Spans when a span exporter takes them (or OTLP metrics want exemplars); else ids and headers only."""
        if self._spans or self.hooks.roots is not None:
            return RunSpans(self.hooks)
        return IdsOnly(self.hooks)

    def record(self, result: RunResult, journey: Journey | None = None) -> None:
        """Record one finished run: runs counter, durations, last-run gauge (the daemon's sink)."""
        if self.prometheus is not None:
            self.series.record(result, journey)
        otel = self.otel
        if otel is None:
            return
        labels = journey.labels if journey is not None else result.labels
        base: dict[str, Any] = {n.JOURNEY_NAME: result.journey, n.PROBE_LOCATION: result.location or self.location,
                                **n.label_attributes(labels)}
        root = self.roots.pop(result.trace_id) if self.roots is not None else None
        context = trace.set_span_in_context(NonRecordingSpan(root)) if root is not None else None
        otel.record(result, base, at_least(detail_of(journey, self.detail), n.DETAIL_STEPS), context)

    # -- RequestMetrics (the HTTP client histogram, for journeys at `requests` detail) ---------------
    def wants(self, journey: Journey | None) -> bool:
        return detail_of(journey, self.detail) == n.DETAIL_REQUESTS

    def record_request(self, journey: Journey | None, duration_s: float, attributes: dict[str, Any],
                       span: Any) -> None:
        """One HTTP request of a journey at `requests` detail; past the journey's cap of series
        (a target choosing statuses or errors) new attribute sets fold into one overflow series."""
        name = attributes.get(n.JOURNEY_NAME, "")
        attributes = dict(self.hooks.series.admit(name, attributes))
        if self.prometheus is not None:
            self.series.block(journey, name, self.location, journey.labels if journey else {}).record_request(
                duration_s, {k: v for k, v in attributes.items() if k not in self._journey_keys(journey)})
        if self.otel is not None:
            context = trace.set_span_in_context(span) if span is not None else None
            self.otel.record_request(duration_s, attributes, context)

    @staticmethod
    def _journey_keys(journey: Journey | None) -> set[str]:
        return {n.JOURNEY_NAME, *(journey.labels if journey is not None else ())}

    def metrics(self) -> tuple[bytes, str]:
        """The Prometheus exposition (for `state.metrics`); empty when Prometheus is off."""
        if self.prometheus is None:
            return b"", "text/plain; charset=utf-8"
        return self.prometheus.render()

    def watch(self, health: Callable[[], Health], sinks: Iterable[str] = ()) -> None:
        """Publish the agent's own health as `journeyprobe.*` metrics; `sinks`: those besides the store."""
        readings = self_readings(self.failures.counts, self._pipelines, sinks)
        if self.prometheus is not None:
            self.prometheus.health, self.prometheus.readings = health, readings
        if self.otel is not None:
            register_self_metrics(self.otel.meter, health, readings)

    def register_slo_gauges(self, callback: Callable[[], Iterable[SloSample]]) -> None:
        """Add a source of SLO gauge values: `callback()` -> [(name, attributes, value)].

        Names are `slo.objective`, `slo.sli`, `slo.error_budget.remaining`, `slo.burn_rate`
        (Prometheus: `slo_*_ratio`); every value also gets this agent's `probe.location`. The
        callback runs in exporter threads and the /metrics writer: return a snapshot, quickly,
        without awaiting; /metrics writes the gauges again only when the callback returns a new list.
        """
        callback = _with_location(callback, self.location)
        if self.prometheus is not None:
            self.prometheus.slo.sources.append(callback)
        if self.otel is not None:
            self.otel.add_slo_source(callback, {name: help_text for name, (_, help_text) in SLO_FAMILIES.items()})

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
        work: list[Callable[[], object]] = [self.tracer_provider.shutdown]
        otel = self.otel
        if otel is not None:
            work.append(lambda: otel.provider.shutdown(timeout_millis=millis))
        finished = _bounded(work, timeout_s)
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


def _with_location(callback: Callable[[], Iterable[SloSample]], location: str) -> Callable[[], list[SloSample]]:
    """The SLO samples with this agent's `probe.location`; the same list back until the source's own changes
    (/metrics rewrites the SLO gauges only when a source hands over a new list)."""
    last: list[Any] = [None, []]

    def located() -> list[SloSample]:
        samples = callback()
        if samples is not last[0]:
            last[1] = [(name, {n.PROBE_LOCATION: location, **attrs}, value) for name, attrs, value in samples]
            last[0] = samples
        return last[1]  # type: ignore[no-any-return]

    return located
