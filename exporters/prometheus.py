"""`/metrics`: a PrometheusMetricReader on the agent's MeterProvider, with a private registry.

The exporter names families the way the OpenTelemetry-to-Prometheus compatibility spec says
(`journey.runs` -> `journey_runs_total`, unit `s` -> `_seconds`), with one gap: gauges with
unit `1` should end in `_ratio`, and the Python exporter drops the unit instead. `RatioSuffix`
adds it back for the gauges that `ratio_gauges` names, so `slo.sli` comes out as `slo_sli_ratio`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, exposition
from prometheus_client.metrics_core import Metric

from agent.core.metric_names import SLO_GAUGES

CONTENT_TYPE: str = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)


def prometheus_name(name: str) -> str:
    """The Prometheus form of an OpenTelemetry name, before unit and type suffixes."""
    from opentelemetry.exporter.prometheus._mapping import sanitize_full_name

    return sanitize_full_name(name)


class RatioSuffix:
    """A collector view of `registry` that appends `_ratio` to the named unit-1 gauges."""

    def __init__(self, registry: CollectorRegistry, ratio_gauges: Callable[[], Iterable[str]]) -> None:
        self._registry = registry
        self._ratio_gauges = ratio_gauges

    def collect(self) -> Iterator[Metric]:
        names = {prometheus_name(n) for n in self._ratio_gauges()}
        for metric in self._registry.collect():
            if metric.type == "gauge" and metric.name in names:
                metric.name += "_ratio"
                metric.unit = "ratio"
                metric.samples = [s._replace(name=s.name + "_ratio") for s in metric.samples]
            yield metric


class PrometheusEndpoint:
    """The reader to add to the MeterProvider, and `render()` for the server's /metrics."""

    def __init__(self, ratio_gauges: Callable[[], Iterable[str]] = lambda: SLO_GAUGES) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        # Scope labels (otel_scope_*) would add three constant labels to every series; the
        # resource still comes out once, as target_info.
        self.reader = PrometheusMetricReader(scope_info_enabled=False, registry=self.registry)
        self._view = RatioSuffix(self.registry, ratio_gauges)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (collects the MeterProvider now)."""
        return exposition.generate_latest(self._view), CONTENT_TYPE  # type: ignore[arg-type]


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of an exposition text; for tests and the `check` output."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out

