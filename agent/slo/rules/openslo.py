"""`journeyprobe rules --format openslo`: the SLOs as OpenSLO v1 documents (a YAML stream).

One `Service` per journey and one `SLO` per SLO, with a Prometheus ratio indicator over the
agents' counters and the burn-rate alert policies inline. OpenSLO's burn-rate condition has
one lookback window; the short window of each pair becomes its `alertAfter`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from agent.core.durations import format_duration
from agent.journey.model import Journey, Slo
from agent.slo.math import SEVERITIES, alert_pairs
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


def service_doc(journey: Journey) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Service",
            "metadata": {"name": dns_name(journey.name), "displayName": display_name(journey.name)},
            "spec": {"description": journey.description or f"Synthetic journey {journey.name}"}}


def alert_policy(name: str, slo: Slo, severity: str) -> dict[str, Any] | None:
    pairs = [p for p in alert_pairs(slo.window) if p.severity == severity]
    if not pairs:
        return None
    conditions = [{
        "kind": "AlertCondition",
        "metadata": {"name": f"{name}-{severity}-{p.long}"},
        "spec": {
            "description": (f"{p.consumed:.0%} of the error budget gone within {p.long} "
                            f"(confirmed over {p.short})"),
            "severity": severity,
            "condition": {"kind": "burnrate", "op": "gt", "threshold": round(p.threshold, 4),
                          "lookbackWindow": p.long, "alertAfter": p.short},
        },
    } for p in pairs]
    return {"kind": "AlertPolicy", "metadata": {"name": f"{name}-{severity}"},
            "spec": {"description": f"{severity} when the error budget of {slo.name} burns fast",
                     "alertWhenBreaching": True, "alertWhenResolved": True, "conditions": conditions}}


def slo_doc(journey: Journey, slo: Slo, name: str) -> dict[str, Any]:
    good, total = selectors(journey.name, slo)
    policies = [p for p in (alert_policy(name, slo, s) for s in SEVERITIES) if p is not None]
    spec: dict[str, Any] = {
        "description": slo_description(slo, journey.name),
        "service": dns_name(journey.name),
        "indicator": {
            "metadata": {"name": f"{name}-sli"},
            "spec": {"ratioMetric": {"counter": True,
                                     "good": _source(f"sum({good})"),
                                     "total": _source(f"sum({total})")}},
        },
        "timeWindow": [{"duration": format_duration(slo.window), "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"displayName": display_name(slo.name), "target": round(slo.objective, 10)}],
    }
    if policies:
        spec["alertPolicies"] = policies
    return {"apiVersion": API_VERSION, "kind": "SLO",
            "metadata": {"name": name, "displayName": display_name(slo.name),
                         "labels": {"owner": [slo.owner], "journey": [journey.name]}},
            "spec": spec}


def openslo_documents(journeys: Sequence[Journey]) -> list[dict[str, Any]]:
    names = _names(journeys)
    docs: list[dict[str, Any]] = []
    for journey in journeys:
        if not journey.slos:
            continue
        docs.append(service_doc(journey))
        docs.extend(slo_doc(journey, slo, names[(journey.name, slo.name)]) for slo in journey.slos)
    return docs


def openslo_yaml(journeys: Sequence[Journey]) -> str:
    """A multi-document YAML stream, `---` between documents."""
    return yaml.safe_dump_all(openslo_documents(journeys), sort_keys=False, width=120, allow_unicode=True,
                              explicit_start=True)
