"""`/metrics`: the Prometheus text of the journeys, the SLO gauges, the agent's health and target_info.

Names follow the OpenTelemetry-to-Prometheus compatibility rules, as the OpenTelemetry
Prometheus exporter wrote them before (`journey.runs` -> `journey_runs_total`, unit `s` ->
`_seconds`, unit-1 gauges -> `_ratio`, resource -> `target_info`). The text is not converted
from an OpenTelemetry collection at each scrape: journeys keep their lines between runs
(exporters/journey_series.py), the SLO gauges are written once per SLO evaluation and the
agent's health, a few lines, at each scrape. docs/benchmarks.md has what that saves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from agent.core import metric_names as n
from exporters import prom_text as t
from exporters.journey_series import JourneySeries
from exporters.self_metrics import Health, Reading, self_metrics_text
from exporters.slo_counters import SloCounters

CONTENT_TYPE = t.CONTENT_TYPE
log = logging.getLogger("journeyprobe.telemetry")
SloSample = tuple[str, Mapping[str, Any], float]
SLO_FAMILIES = {  # OpenTelemetry name -> (Prometheus name, help)
    n.SLO_OBJECTIVE: ("slo_objective_ratio", "Objective of the SLO (0..1)."),
    n.SLO_SLI: ("slo_sli_ratio", "Measured SLI over the window (0..1)."),
    n.SLO_BUDGET_REMAINING: ("slo_error_budget_remaining_ratio",
                             "Part of the error budget left over the SLO's period."),
    n.SLO_BURN_RATE: ("slo_burn_rate_ratio", "Error budget burn rate over the window (1 = exactly on budget)."),
}


def prometheus_name(name: str) -> str:
    """The Prometheus form of an OpenTelemetry name or attribute, before unit and type suffixes."""
    name = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    return "_" + name[1:] if name[:1].isdigit() else name


class SloGauges:
    """The SLO gauges' text, written again only when a source hands over a new list.

    `SloService.gauges()` returns the same list object until its next evaluation, so
    between evaluations a scrape reuses the text."""

    LABELS_KEPT = 200_000  # label texts kept between evaluations (an SLO's ~17 gauges each)

    def __init__(self) -> None:
        self.sources: list[Callable[[], Iterable[SloSample]]] = []
        self._seen: tuple[Any, ...] = ()
        self._text = ""
        self._labels: dict[tuple[tuple[str, Any, type], ...], str] = {}

    def text(self) -> str:
        snapshots: list[Any] = []
        for source in list(self.sources):
            try:
                snapshots.append(source())
            except Exception:  # a broken source must not break the other metrics
                log.exception("an SLO gauge callback failed")
                snapshots.append(())
        if len(snapshots) == len(self._seen) and all(a is b for a, b in zip(snapshots, self._seen, strict=True)) \
                and all(isinstance(s, list) for s in snapshots):
            return self._text
        lines: dict[str, list[str]] = {name: [] for name in SLO_FAMILIES}
        known = self._labels
        if len(known) > self.LABELS_KEPT:  # SLOs come and go: start again rather than grow
            known.clear()
        for snapshot in snapshots:
            for name, attributes, value in list(snapshot):
                if name in lines:
                    # the same SLO and window give the same labels at every evaluation: written once
                    key = tuple((k, v, type(v)) for k, v in attributes.items())  # 1, 1.0 and True differ
                    labels = known.get(key)
                    if labels is None:
                        labels = known[key] = t.labels_text({k.replace(".", "_"): str(v) for k, v, _ in key})
                    lines[name].append(t.sample(SLO_FAMILIES[name][0], labels, value))
        text = "".join(t.family(SLO_FAMILIES[name][0], "gauge", SLO_FAMILIES[name][1], found)
                       for name, found in lines.items())
        self._seen, self._text = tuple(snapshots), text
        return text


class PrometheusEndpoint:
    """`render()` for the server's /metrics."""

    def __init__(self, series: JourneySeries, resource: Mapping[str, Any] | None = None) -> None:
        self.series = series
        self.health: Callable[[], Health] | None = None
        self.slo_counters: SloCounters | None = None
        self.readings: Sequence[Reading] = ()
        self.slo = SloGauges()
        info = {prometheus_name(k): str(v) for k, v in (resource or {}).items()}
        self._target_info = t.family("target_info", "gauge", "Target metadata",
                                     [t.sample("target_info", t.labels_text(info), 1)]) if info else ""

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        own = self_metrics_text(self._health(), self.readings) if self.health is not None else ""
        counters = self.slo_counters
        primed = counters.journeys() if counters is not None else ()
        parts = [self._target_info, *self.series.families(primed), self.slo.text(),
                 counters.text() if counters is not None else "", own]
        return "".join(parts).encode(), CONTENT_TYPE


    def _health(self) -> Health:
        assert self.health is not None
        try:
            return self.health()
        except Exception:  # a broken source must not take the journeys' series down with it
            log.exception("reading the agent's own health failed")
            return Health()


def parse_exposition(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of an exposition text; for tests and the `check` output."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out
