"""PromQL selectors of an SLO's good and total events, shared by the Prometheus and OpenSLO outputs.

They read the agent's per-SLO counters (`exporters.slo_counters`): `slo_events_total` counts
the runs that count for the SLO, `slo_good_events_total` the good ones, both incremented with
the agent's own verdict and exported at 0 from the start. Agent-side failures are in neither,
and a latency SLO's threshold needs no histogram boundary.
"""

from __future__ import annotations

from agent.journey.model import Slo

EVENTS = "slo_events_total"
GOOD_EVENTS = "slo_good_events_total"


def promql_string(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def matcher(journey: str, slo: Slo | str) -> str:
    """`{journey_name="…",slo_name="…"}`: the counters of one SLO of one journey."""
    name = slo if isinstance(slo, str) else slo.name
    return f"{{journey_name={promql_string(journey)},slo_name={promql_string(name)}}}"


def selectors(journey: str, slo: Slo | str) -> tuple[str, str]:
    """The (good, total) counter selectors of an SLO."""
    match = matcher(journey, slo)
    return f"{GOOD_EVENTS}{match}", f"{EVENTS}{match}"
