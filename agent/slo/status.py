"""SLO reports as the outside sees them: `/api/v1/slos` entries and the telemetry's SLO gauges."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agent.core.durations import format_duration
from agent.slo.alerts import judgement
from agent.slo.engine import SloReport
from agent.slo.math import alert_pairs, min_events
from agent.slo.wording import indicator_json

GaugePoint = tuple[str, dict[str, str], float]


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def slo_entry(report: SloReport, alerts: list[dict[str, Any]], location: str = "") -> dict[str, Any]:
    """One element of `/api/v1/slos` (docs/interfaces.md), plus a few extras after `alerts`."""
    slo = report.slo
    return {
        "name": slo.name,
        "journey": report.journey,
        "indicator": indicator_json(slo),
        "objective": round(slo.objective, 10),
        "window": format_duration(slo.window),
        "owner": slo.owner,
        "sli": _round(report.sli),
        "error_budget_remaining": _round(report.budget_remaining),
        "burn_rates": {name: _round(w.burn_rate, 4) for name, w in report.windows.items()},
        "alerts": alerts,
        # extras
        "description": slo.description,
        "window_s": slo.window,
        "events": report.events,
        "good": report.overall.counts.good,
        "excluded": report.excluded,
        "loading": not report.loaded,
        "evaluated_at": report.evaluated_at,
        "windows": {name: {"sli": _round(w.sli), "events": w.counts.total, "good": w.counts.good,
                           "excluded": w.counts.excluded} for name, w in report.windows.items()},
        "min_runs": slo.alerting.min_runs,
        "thresholds": [{"severity": p.severity, "long": p.long, "short": p.short,
                        "threshold": round(p.threshold, 4),
                        "min_events": min_events(p, slo.objective, report.interval_s, slo.alerting.min_events)}
                       for p in alert_pairs(slo.window)],
        "data_since": report.data_since,
        "data_s": report.data_s,
        "judgement": judgement(report, location),
        "min_failing_locations": slo.locations.min_failing,
    }


def slo_list(reports: Iterable[SloReport],
             alerts_of: Callable[[str], list[dict[str, Any]]] = lambda key: [],
             location: str = "") -> list[dict[str, Any]]:
    """The `/api/v1/slos` list, ordered by journey and SLO name."""
    ordered = sorted(reports, key=lambda r: (r.journey, r.slo.name))
    return [slo_entry(r, alerts_of(r.key), location) for r in ordered]


def gauge_points(reports: Iterable[SloReport], *, every_window: bool = False) -> list[GaugePoint]:
    """(instrument, attributes, value) for the `slo.*` gauges; windows without events are left out.

    `slo.sli` and `slo.burn_rate` are given for the SLO's own window, and with `every_window` for
    each alerting window too (the rules compute those from the event counters anyway). Every point
    names its SLO and journey (`probe.location` is the telemetry's to add), so the gauges join the
    journey's own series and the rules' (`journey_name`) in Prometheus.
    """
    out: list[GaugePoint] = []
    for report in reports:
        slo = report.slo
        ids = {"slo.name": slo.name, "journey.name": report.journey}
        out.append(("slo.objective", ids, round(slo.objective, 10)))
        if not report.loaded:
            continue
        own = format_duration(slo.window)
        windows = [(own, report.overall)]
        if every_window:
            windows += [(n, w) for n, w in report.windows.items() if n != own]
        for name, stats in windows:
            if stats.sli is not None:
                out.append(("slo.sli", {**ids, "slo.window": name}, stats.sli))
            if stats.burn_rate is not None:
                out.append(("slo.burn_rate", {**ids, "slo.window": name}, stats.burn_rate))
        if report.budget_remaining is not None:
            out.append(("slo.error_budget.remaining", ids, report.budget_remaining))
    return out
