"""PromQL selectors of an SLO's good and total events, shared by the Prometheus and OpenSLO outputs."""

from __future__ import annotations

from agent.journey.model import LatencyIndicator, Slo

AGENT_ERROR_TYPES = ("agent", "internal", "cancelled")
"""error.type values of runs that failed on the probe's side: no event for the SLO."""


def promql_string(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def le_regex(bound: float) -> str:
    """Every spelling of a bucket boundary an exporter may write: 3 -> 3|3\\.0 (RE2 syntax)."""
    forms = {repr(float(bound)), f"{bound:g}"}
    return "|".join(sorted(f.replace(".", "\\\\.") for f in forms))


def selectors(journey: str, slo: Slo) -> tuple[str, str]:
    """The (good, total) counter selectors of an SLO."""
    name = promql_string(journey)
    total = f"journey_runs_total{{journey_name={name},error_type!~{promql_string('|'.join(AGENT_ERROR_TYPES))}}}"
    if isinstance(slo.indicator, LatencyIndicator):
        le = le_regex(slo.indicator.latency)
        good = f'journey_duration_seconds_bucket{{journey_name={name},journey_outcome="success",le=~"{le}"}}'
    else:
        good = f'journey_runs_total{{journey_name={name},journey_outcome="success"}}'
    return good, total
