"""The journey instruments on an OpenTelemetry MeterProvider, for OTLP (and tests' readers).

Only made when a metric reader wants them: /metrics does not go through the SDK
(exporters/journey_series.py). Histograms are base-2 exponential by default: one data point
per series whatever the spread, and the consumer (an OpenTelemetry Collector, Prometheus's
OTLP receiver with native histograms, most vendors) gets the quantiles precisely; with
`exporters.otlp.histograms: explicit` they use the bounds of `DURATION_BUCKETS`.
The same detail as on /metrics decides which series exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Histogram, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.metrics.view import (
    Aggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource

from agent import __version__
from agent.core import metric_names as n
from agent.probe.result import Outcome, RunResult

log = logging.getLogger("journeyprobe.telemetry")
EXPONENTIAL, EXPLICIT = "exponential", "explicit"
HISTOGRAMS = (EXPONENTIAL, EXPLICIT)
_HISTOGRAMS = (n.JOURNEY_DURATION, n.JOURNEY_STEP_DURATION, n.HTTP_CLIENT_DURATION, n.BROWSER_VITAL)


CARDINALITY_LIMIT = 1_000_000
"""Series per instrument before the SDK folds the rest into one `otel.metric.overflow` series: its
default (2,000) would hide most journeys of a fleet of thousands. Journeys bound the series."""


def journey_views(histograms: str) -> list[View]:
    """Views of the journey instruments: no cardinality cap below a fleet's journeys, and the
    histograms' aggregation (exponential, or explicit bounds)."""
    def aggregation(bounds: Sequence[float]) -> Aggregation:
        if histograms == EXPONENTIAL:
            return ExponentialBucketHistogramAggregation(max_size=160)
        return ExplicitBucketHistogramAggregation(bounds)
    limit = CARDINALITY_LIMIT
    return [*(View(instrument_type=Histogram, instrument_name=name, aggregation=aggregation(n.DURATION_BUCKETS),
                   aggregation_cardinality_limit=limit) for name in _HISTOGRAMS),
            View(instrument_type=Histogram, instrument_name=n.BROWSER_LAYOUT_SHIFT,
                 aggregation=aggregation(n.LAYOUT_SHIFT_BUCKETS), aggregation_cardinality_limit=limit),
            *(View(instrument_name=name, aggregation_cardinality_limit=limit)
              for name in (n.JOURNEY_RUNS, n.JOURNEY_SUCCESS))]


class OtelMetrics:
    """MeterProvider, journey instruments and `record`; exemplars when `exemplars` is set."""

    def __init__(self, resource: Resource, readers: Sequence[MetricReader], *, exemplars: bool,
                 histograms: str = EXPONENTIAL) -> None:
        self.provider = MeterProvider(
            resource=resource, metric_readers=list(readers), shutdown_on_exit=False,
            exemplar_filter=TraceBasedExemplarFilter() if exemplars else AlwaysOffExemplarFilter(),
            views=journey_views(histograms))
        meter = self.meter = self.provider.get_meter(n.METER_NAME, __version__)
        self.runs = meter.create_counter(n.JOURNEY_RUNS, unit="{run}", description="Finished journey runs by outcome.")
        self.duration = meter.create_histogram(n.JOURNEY_DURATION, unit="s", description="Duration of journey runs.")
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
        self._slo_callbacks: list[Callable[[], Iterable[tuple[str, Mapping[str, Any], float]]]] = []

    def record(self, result: RunResult, base: dict[str, Any], vitals: bool, context: Any) -> None:
        """One finished run; `base` holds journey.name, probe.location and the journey's labels."""
        outcome = result.outcome.value
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
            if vitals:
                self._record_vitals(step.vitals, {**base, n.JOURNEY_STEP: step.name}, context)
        self._last_success[tuple(base.items())] = (base, 1 if result.passed else 0)

    def record_request(self, duration_s: float, attributes: Mapping[str, Any], context: Any) -> None:
        self.http_duration.record(duration_s, dict(attributes), context=context)

    def _observe_success(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, attributes) for attributes, value in list(self._last_success.values())]

    def _record_vitals(self, vitals: Iterable[dict[str, Any]], attributes: dict[str, Any], context: Any) -> None:
        """`journey.browser.vital{vital=ttfb|fcp|lcp|dom_content_loaded|load}`; CLS, a score, apart."""
        for page in vitals:
            for key, value in page.items():
                if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if key == "cls":
                    self.layout_shift.record(value, attributes, context=context)
                elif key.endswith("_s"):
                    self.vital.record(value, {**attributes, n.VITAL: key[:-2]}, context=context)

    def add_slo_source(self, callback: Callable[[], Iterable[tuple[str, Mapping[str, Any], float]]],
                       descriptions: Mapping[str, str]) -> None:
        first = not self._slo_callbacks
        self._slo_callbacks.append(callback)
        if first:
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
                out.extend(Observation(value, dict(attrs)) for sample_name, attrs, value in samples
                           if sample_name == name)
            return out
        return observe
