"""`journeyprobe rules --format openslo`: the SLOs as OpenSLO v1 documents (a YAML stream).

Per journey a `Service`; per SLO an `SLO` with a Prometheus ratio indicator over the agents'
per-SLO event counters; per burn-rate pair an `AlertPolicy` naming one `AlertCondition` (v1
allows one condition per policy); and one `AlertNotificationTarget` per severity.

OpenSLO's burn-rate condition has a single `lookbackWindow`; it gets the pair's long window.
The short window, which journeyprobe's own alerts and the Prometheus rules also require to
burn, has no field of its own in v1: it is named in the condition's description and in the
`journeyprobe.dev/short-window` annotation. `alertAfter` is a hold time in v1 (how long the
condition must hold before alerting); journeyprobe alerts at the first evaluation where
both windows burn, so it gets the shortest duration v1 can write, `1m`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from agent.journey.model import Journey, Slo
from agent.slo.math import SEVERITIES, AlertPair, alert_pairs
from agent.slo.rules.selectors import selectors
from agent.slo.wording import display_name, slo_description

API_VERSION = "openslo/v1"


def dns_name(text: str) -> str:
    """An RFC 1123 label as OpenSLO wants names: lower case, digits and '-', at most 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name[:63].rstrip("-")) or "slo"


def _names(journeys: Sequence[Journey]) -> dict[tuple[str, str], str]:
    """A document name per SLO: the SLO's own when unique, else prefixed with its journey."""
    counts: dict[str, int] = {}
    for journey in journeys:
        for slo in journey.slos:
            counts[dns_name(slo.name)] = counts.get(dns_name(slo.name), 0) + 1
    return {(j.name, s.name): dns_name(s.name) if counts[dns_name(s.name)] == 1
            else dns_name(f"{j.name}-{s.name}") for j in journeys for s in j.slos}


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def shorthand(seconds: float) -> str:
    """A v1 duration shorthand (`5m`, `6h`, `28d`): one whole number and one unit, m at the least."""
    minutes = max(1, round(seconds / 60))
    for unit, size in (("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _doc(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


def service_doc(journey: Journey) -> dict[str, Any]:
    return _doc("Service", dns_name(journey.name),
                {"description": journey.description or f"Synthetic journey {journey.name}"},
                displayName=display_name(journey.name))


def target_doc(severity: str) -> dict[str, Any]:
    """Where a severity's alerts go: the Alertmanager receivers of deploy/alertmanager/alertmanager.yml."""
    return _doc("AlertNotificationTarget", f"journeyprobe-{severity}", {
        "target": "alertmanager",
        "description": (f"Alertmanager, alerts labelled severity={severity} (journeyprobe's agents or its "
                        "Prometheus rules send them; see docs/slos.md)"),
    })


def _policy_name(name: str, pair: AlertPair) -> str:
    return f"{name}-{pair.severity}-{pair.long}"


def condition_doc(name: str, pair: AlertPair) -> dict[str, Any]:
    return _doc("AlertCondition", f"{_policy_name(name, pair)}-burn", {
        "description": (f"{pair.consumed:.0%} of the error budget would be gone within {pair.long}; "
                        f"journeyprobe also requires the last {pair.short} to burn this fast"),
        "severity": pair.severity,
        "condition": {"kind": "burnrate", "op": "gt", "threshold": round(pair.threshold, 4),
                      "lookbackWindow": shorthand(pair.long_s), "alertAfter": "1m"},
    }, annotations={"journeyprobe.dev/short-window": shorthand(pair.short_s)})


def policy_doc(name: str, slo: Slo, pair: AlertPair) -> dict[str, Any]:
    return _doc("AlertPolicy", _policy_name(name, pair), {
        "description": f"{pair.severity} when the error budget of {slo.name} burns {pair.threshold:.3g}x too fast",
        "alertWhenNoData": False,
        "alertWhenResolved": True,
        "alertWhenBreaching": True,
        "conditions": [{"conditionRef": condition_doc(name, pair)["metadata"]["name"]}],
        "notificationTargets": [{"targetRef": f"journeyprobe-{pair.severity}"}],
    })


def slo_doc(journey: Journey, slo: Slo, name: str) -> dict[str, Any]:
    good, total = selectors(journey.name, slo)
    spec: dict[str, Any] = {
        "description": slo_description(slo, journey.name)[:1050],
        "service": dns_name(journey.name),
        "indicator": {
            "metadata": {"name": f"{name}-sli"},
            "spec": {"ratioMetric": {"counter": True,
                                     "good": _source(f"sum({good})"),
                                     "total": _source(f"sum({total})")}},
        },
        "timeWindow": [{"duration": shorthand(slo.window), "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"displayName": display_name(slo.name), "target": round(slo.objective, 10)}],
    }
    policies = [_policy_name(name, p) for p in alert_pairs(slo.window)]
    if policies:
        spec["alertPolicies"] = policies
    return _doc("SLO", name, spec, displayName=display_name(slo.name), labels={"journey": [journey.name]},
                annotations={"journeyprobe.dev/owner": slo.owner})


def openslo_documents(journeys: Sequence[Journey]) -> list[dict[str, Any]]:
    names = _names(journeys)
    docs: list[dict[str, Any]] = []
    severities: set[str] = set()
    for journey in journeys:
        if not journey.slos:
            continue
        docs.append(service_doc(journey))
        for slo in journey.slos:
            name = names[(journey.name, slo.name)]
            docs.append(slo_doc(journey, slo, name))
            for pair in alert_pairs(slo.window):
                docs.extend((policy_doc(name, slo, pair), condition_doc(name, pair)))
                severities.add(pair.severity)
    docs.extend(target_doc(s) for s in SEVERITIES if s in severities)
    return docs


def openslo_yaml(journeys: Sequence[Journey]) -> str:
    """A multi-document YAML stream, `---` between documents."""
    return yaml.safe_dump_all(openslo_documents(journeys), sort_keys=False, width=120, allow_unicode=True,
                              explicit_start=True)
