"""`journeyprobe rules`: Prometheus recording and alerting rules (or OpenSLO) for every SLO.

For fleets that evaluate SLOs in Prometheus, Mimir or Thanos from the agents' metrics.
Counts are summed across probe locations, agent instances and shards (`sum by
(journey_name)`), so each SLO gets one error ratio per window however many agents probe it.
Agent-side failures (`error_type` agent, internal or cancelled: the probe host failed, not the target) count
neither as good nor as bad, as in the agent's own engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from agent.core.durations import format_duration
from agent.core.metric_names import DURATION_BUCKETS as HISTOGRAM_BUCKETS
from agent.journey.model import Journey, LatencyIndicator, Slo
from agent.slo.math import SEVERITIES, alert_pairs
from agent.slo.rules.selectors import promql_string as _q
from agent.slo.rules.selectors import selectors
from agent.slo.windows import BURN_WINDOWS
from agent.slo.wording import display_name, seconds_text, slo_description, window_adjective, window_phrase

DURATION_BUCKETS: tuple[float, ...] = tuple(HISTOGRAM_BUCKETS)
"""Boundaries of `journey_duration_seconds` (seconds); a latency SLO's threshold must be one."""
ERROR_RATIO = "journey:slo_errors_ratio:rate{window}"
ALERTNAME = "SLOBurnRate"


class RulesError(ValueError):
    """Rules cannot be written for these SLOs; `problems` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Block(str):
    """A string dumped as a YAML literal block."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Block, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style="|"))


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)


def _num(value: float) -> str:
    return f"{value:.6g}"


def rule_problems(journeys: Sequence[Journey], buckets: Sequence[float] = DURATION_BUCKETS) -> list[str]:
    """Why rules cannot express some SLO: a latency threshold that is no histogram boundary."""
    problems = []
    for journey in journeys:
        for slo in journey.slos:
            if isinstance(slo.indicator, LatencyIndicator):
                latency = slo.indicator.latency
                if not any(abs(latency - b) < 1e-9 for b in buckets):
                    below = max((b for b in buckets if b < latency), default=None)
                    above = min((b for b in buckets if b > latency), default=None)
                    near = " or ".join(seconds_text(b) for b in (below, above) if b is not None)
                    listed = ", ".join(seconds_text(b) for b in buckets)
                    where = f"{journey.source or journey.name}: SLO {slo.name}"
                    problems.append(
                        f"{where}: latency {seconds_text(latency)} "
                        f"is not a boundary of the journey_duration_seconds histogram, so Prometheus cannot "
                        f"count runs under it; use {near} (boundaries: {listed})")
    return problems


def error_ratio_expr(journey: str, slo: Slo, window: str) -> str:
    """1 - good/total over `window`, 0 (not empty) when no run was good."""
    good, total = selectors(journey, slo)
    rate_total = f"sum by (journey_name) (rate({total}[{window}]))"
    return (f"1 - (\n  sum by (journey_name) (rate({good}[{window}]))\n  or\n  0 * {rate_total}\n)\n"
            f"/\n{rate_total}\n")


def _windows(slo: Slo) -> list[str]:
    own = format_duration(slo.window)
    return [*BURN_WINDOWS, *([own] if own not in BURN_WINDOWS else [])]


def recording_rules(journey: Journey, slo: Slo) -> list[dict[str, Any]]:
    labels = {"slo": slo.name}
    own = format_duration(slo.window)
    rules: list[dict[str, Any]] = [
        {"record": ERROR_RATIO.format(window=w), "expr": _Block(error_ratio_expr(journey.name, slo, w)),
         "labels": dict(labels)} for w in _windows(slo)]
    rules.append({"record": "journey:slo_objective:ratio", "expr": f"vector({_num(slo.objective)})",
                  "labels": {"journey_name": journey.name, **labels}})
    rules.append({"record": "journey:slo_error_budget_remaining:ratio",
                  "expr": f"1 - {ERROR_RATIO.format(window=own)}{{slo={_q(slo.name)},"
                          f"journey_name={_q(journey.name)}}} / {_num(1 - slo.objective)}",
                  "labels": dict(labels)})
    return rules


def alert_rules(journey: Journey, slo: Slo) -> list[dict[str, Any]]:
    budget = 1 - slo.objective
    match = f"{{slo={_q(slo.name)},journey_name={_q(journey.name)}}}"
    _, total = selectors(journey.name, slo)
    rules = []
    for severity in SEVERITIES:
        pairs = [p for p in alert_pairs(slo.window) if p.severity == severity]
        if not pairs:
            continue
        clauses = []
        for p in pairs:
            limit = f"({_num(p.threshold)} * {_num(budget)})"
            clause = (f"(\n  {ERROR_RATIO.format(window=p.long)}{match} > {limit}\n  and\n"
                      f"  {ERROR_RATIO.format(window=p.short)}{match} > {limit}")
            if slo.alerting.min_runs > 0:
                clause += (f"\n  and on (journey_name)\n  sum by (journey_name) "
                           f"(increase({total}[{p.short}])) >= {slo.alerting.min_runs}")
            clauses.append(clause + "\n)")
        gone = ", or ".join(f"{p.consumed:.0%} in {window_phrase(p.long)}" for p in pairs)
        rules.append({
            "alert": ALERTNAME,
            "expr": _Block("\nor\n".join(clauses) + "\n"),
            "labels": {"severity": severity, "owner": slo.owner, "slo": slo.name, "journey": journey.name},
            "annotations": {
                "summary": (f"{display_name(slo.name)} is burning its {window_adjective(slo.window)} error "
                            f"budget fast: {gone}"),
                "description": slo_description(slo, journey.name),
            },
        })
    return rules


def prometheus_rules(journeys: Sequence[Journey]) -> dict[str, Any]:
    """Rule groups: per SLO one of recording rules and one of alerts."""
    groups = []
    for journey in journeys:
        for slo in journey.slos:
            base = f"journeyprobe-{journey.name}-{slo.name}"
            groups.append({"name": f"{base}-recordings", "rules": recording_rules(journey, slo)})
            alerts = alert_rules(journey, slo)
            if alerts:
                groups.append({"name": f"{base}-alerts", "rules": alerts})
    return {"groups": groups}
