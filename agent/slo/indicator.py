"""Which runs are good events for which SLO; agent-side failures are no event at all."""

from __future__ import annotations

from agent.journey.model import Journey, LatencyIndicator, Slo
from agent.probe.result import RunResult


def is_good(slo: Slo, result: RunResult) -> bool | None:
    """True: a good event; False: a bad one; None: left out (the probe host failed, not the target)."""
    if result.agent_side:
        return None
    if isinstance(slo.indicator, LatencyIndicator):
        return result.passed and result.duration_s <= slo.indicator.latency
    return result.passed


def verdicts(journey: Journey, result: RunResult) -> dict[str, bool | None]:
    return {slo.name: is_good(slo, result) for slo in journey.slos}
