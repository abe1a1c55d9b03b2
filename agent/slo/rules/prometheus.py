"""`journeyprobe rules`: Prometheus recording and alerting rules for every SLO.

For fleets that evaluate SLOs in Prometheus, Mimir or Thanos from the agents' metrics. The
rules read the per-SLO counters every agent exports from its start (`slo_events_total`,
`slo_good_events_total`, see `selectors`), which carry the agent's own verdicts: the error
ratio of a window is the agent's, by construction, and the first failure counts.

Per SLO and window (5m ... 3d and the SLO's own) they record the error ratio per location
(`journey_location:…`, summed over the agents and shards of one location) and for the fleet
(`journey:…`, all locations together), and the events per location that the alerts' minimums
need. The alerts are the agent's multi-window, multi-burn-rate pairs, judged per location:

- `locations.min_failing: 1` (the default): one alert per burning location, labelled exactly
  as the agent labels its own (`notify_alertmanager.alert_labels`), so Alertmanager takes an
  agent's alert and the rules' alert for one location as the same alert;
- `locations.min_failing: n`: one fleet alert (no location label) when at least n locations
  burn in both windows of a pair at once; the agents never send these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from agent.core.durations import format_duration
from agent.journey.model import Journey, Slo
from agent.slo.math import SEVERITIES, AlertPair, alert_pairs, min_events
from agent.slo.rules.selectors import promql_string as _q
from agent.slo.rules.selectors import selectors
from agent.slo.windows import BURN_WINDOWS
from agent.slo.wording import display_name, slo_description, window_adjective, window_phrase

ERROR_RATIO = "journey:slo_errors_ratio:rate{window}"
"""The fleet's error ratio of a window: every location's events together."""
LOCATION_ERROR_RATIO = "journey_location:slo_errors_ratio:rate{window}"
"""One location's error ratio of a window (agents and shards of the location together)."""
LOCATION_EVENTS = "journey_location:slo_events:increase{window}"
"""One location's events in a window, for `alerting.min_runs` and `alerting.min_events`."""
OBJECTIVE = "journey:slo_objective:ratio"
BUDGET = "journey:slo_error_budget_remaining:ratio"
LOCATION_BUDGET = "journey_location:slo_error_budget_remaining:ratio"
ALERTNAME = "SLOBurnRate"
BY_LOCATION = "journey_name, probe_location"
BY_JOURNEY = "journey_name"


class _Block(str):
    """A string dumped as a YAML literal block."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Block, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style="|"))


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)


def _num(value: float) -> str:
    return f"{value:.6g}"


def error_ratio_expr(journey: str, slo: Slo, window: str, by: str = BY_LOCATION) -> str:
    """1 - good/events over `window`; no sample (not 0, not 1) for a window without events."""
    good, total = selectors(journey, slo)
    return (f"1 - (\n  sum by ({by}) (rate({good}[{window}]))\n  /\n"
            f"  (sum by ({by}) (rate({total}[{window}])) > 0)\n)\n")


def events_expr(journey: str, slo: Slo, window: str) -> str:
    _, total = selectors(journey, slo)
    return f"sum by ({BY_LOCATION}) (increase({total}[{window}]))"


def _windows(slo: Slo) -> list[str]:
    own = format_duration(slo.window)
    return [*BURN_WINDOWS, *([own] if own not in BURN_WINDOWS else [])]


def recording_rules(journey: Journey, slo: Slo) -> list[dict[str, Any]]:
    labels = {"slo": slo.name}
    own = format_duration(slo.window)
    match = f"{{slo={_q(slo.name)},journey_name={_q(journey.name)}}}"
    budget = _num(1 - slo.objective)
    rules: list[dict[str, Any]] = []
    for w in _windows(slo):
        rules.append({"record": LOCATION_ERROR_RATIO.format(window=w),
                      "expr": _Block(error_ratio_expr(journey.name, slo, w)), "labels": dict(labels)})
        rules.append({"record": ERROR_RATIO.format(window=w),
                      "expr": _Block(error_ratio_expr(journey.name, slo, w, BY_JOURNEY)), "labels": dict(labels)})
        if w in BURN_WINDOWS:
            rules.append({"record": LOCATION_EVENTS.format(window=w), "expr": events_expr(journey.name, slo, w),
                          "labels": dict(labels)})
    rules.append({"record": OBJECTIVE, "expr": f"vector({_num(slo.objective)})",
                  "labels": {"journey_name": journey.name, **labels}})
    rules.append({"record": LOCATION_BUDGET,
                  "expr": f"1 - {LOCATION_ERROR_RATIO.format(window=own)}{match} / {budget}", "labels": dict(labels)})
    rules.append({"record": BUDGET, "expr": f"1 - {ERROR_RATIO.format(window=own)}{match} / {budget}",
                  "labels": dict(labels)})
    return rules


def pair_clause(journey: Journey, slo: Slo, pair: AlertPair) -> str:
    """The locations where `pair` burns: both windows above its threshold, with enough events."""
    match = f"{{slo={_q(slo.name)},journey_name={_q(journey.name)}}}"
    limit = f"({_num(pair.threshold)} * {_num(1 - slo.objective)})"
    parts = [f"{LOCATION_ERROR_RATIO.format(window=pair.long)}{match} > {limit}",
             f"{LOCATION_ERROR_RATIO.format(window=pair.short)}{match} > {limit}"]
    needed = min_events(pair, slo.objective, journey.interval, slo.alerting.min_events)
    if needed > 1:
        parts.append(f"{LOCATION_EVENTS.format(window=pair.long)}{match} >= {needed}")
    if slo.alerting.min_runs > 1:
        parts.append(f"{LOCATION_EVENTS.format(window=pair.short)}{match} >= {slo.alerting.min_runs}")
    return "\n  and\n  ".join(parts)


def alert_rules(journey: Journey, slo: Slo) -> list[dict[str, Any]]:
    quorum = slo.locations.min_failing
    rules = []
    for severity in SEVERITIES:
        pairs = [p for p in alert_pairs(slo.window) if p.severity == severity]
        if not pairs:
            continue
        if quorum > 1:
            clauses = [f"count by (journey_name, slo) (\n  {pair_clause(journey, slo, p)}\n) >= {quorum}"
                       for p in pairs]
            where = f"in {{{{ $value }}}} locations (alerts when at least {quorum} fail together)"
        else:
            clauses = [f"(\n  {pair_clause(journey, slo, p)}\n)" for p in pairs]
            where = "at {{ $labels.probe_location }}"
        gone = ", or ".join(f"{p.consumed:.0%} in {window_phrase(p.long)}" for p in pairs)
        rules.append({
            "alert": ALERTNAME,
            "expr": _Block("\nor\n".join(clauses) + "\n"),
            "labels": {"severity": severity, "owner": slo.owner, "slo": slo.name, "journey_name": journey.name},
            "annotations": {
                "summary": (f"{display_name(slo.name)} is burning its {window_adjective(slo.window)} error "
                            f"budget fast {where}: {gone}"),
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
