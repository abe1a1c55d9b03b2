"""`journeyprobe rules --format openslo`: the SLOs as OpenSLO v1 documents (a YAML stream).

What is emitted, in order:
- one `AlertNotificationTarget` (`journeyprobe-alertmanager`) that every policy refers to;
- per journey with SLOs, one `Service`; per SLO, one `SLO` (a Prometheus ratio indicator over
  the agents' counters) followed by its `AlertPolicy` documents, which the SLO lists by name.

OpenSLO v1 allows one condition per AlertPolicy and one lookback window per condition, while
the agent's alerts are window *pairs* (SRE Workbook: fire when the long and the short window
both burn faster than the threshold). So each pair becomes its own policy, named
`<slo>-<severity>-<long window>`, with one `burnrate` condition: `lookbackWindow` is the long
window, the threshold is the pair's. The short window is a refinement the agent and the
generated Prometheus rules apply on top; it is kept in the condition's
`journeyprobe.short-window` annotation and its description. It is not `alertAfter`, which is a
hold time: that one is `1m`, the shortest the v1 duration format can say (`0m` does not match
it), where the agent and the rules hold for none.

Names: OpenSLO names follow RFC 1123 (lower case letters, digits and `-`, at most 63), so
`_` and `.` in journey and SLO names become `-`; the original names stay in the
`journeyprobe.journey` and `journeyprobe.slo` annotations.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import yaml

from agent.journey.model import Journey, Slo
from agent.slo.math import AlertPair, alert_pairs
from agent.slo.rules.prometheus import RulesError
from agent.slo.rules.selectors import selectors
from agent.slo.wording import display_name, slo_description

API_VERSION = "openslo/v1"
NOTIFICATION_TARGET = "journeyprobe-alertmanager"
ALERT_AFTER = "1m"
"""The hold time of every condition: the smallest duration OpenSLO v1 can express."""
MAX_NAME = 63
MAX_DESCRIPTION = 1050
LABEL_VALUE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60))
K = TypeVar("K", bound=Hashable)


def dns_name(text: str, limit: int = MAX_NAME) -> str:
    """An RFC 1123 label as OpenSLO wants names: lower case, digits and '-', at most `limit`."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-") or "slo"


def openslo_duration(seconds: float, what: str) -> str:
    """A v1 duration shorthand (one number, one unit: 28d, 6h, 90m), as the agent's windows read."""
    whole = round(seconds)
    if whole != seconds or whole % 60:
        raise RulesError([f"{what}: {seconds:g}s is not a whole number of minutes, which OpenSLO needs"])
    for unit, size in _UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError("unreachable: every whole minute divides by 60")


def _text(text: str) -> str:
    """A description within OpenSLO's 1050 characters."""
    return text if len(text) <= MAX_DESCRIPTION else text[:MAX_DESCRIPTION - 1] + "…"


def _short_hash(key: object) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:6]


def _dedupe(wanted: dict[K, str]) -> dict[K, str]:
    """Names that two keys still share after mapping get a short hash of their key each."""
    counts = Counter(wanted.values())
    out: dict[K, str] = {}
    for key, name in wanted.items():
        if counts[name] > 1:
            name = f"{name[:MAX_NAME - 7].rstrip('-')}-{_short_hash(key)}"
        out[key] = name
    return out


def service_names(journeys: Sequence[Journey]) -> dict[str, str]:
    return _dedupe({j.name: dns_name(j.name) for j in journeys if j.slos})


def slo_names(journeys: Sequence[Journey]) -> dict[tuple[str, str], str]:
    """A document name per SLO: the SLO's own when unique, else prefixed with its journey."""
    counts = Counter(dns_name(s.name) for j in journeys for s in j.slos)
    return _dedupe({(j.name, s.name): dns_name(s.name) if counts[dns_name(s.name)] == 1
                    else dns_name(f"{j.name}-{s.name}") for j in journeys for s in j.slos})


def with_suffix(name: str, suffix: str) -> str:
    """`name` + `suffix` within 63 characters; a cut name gets a hash of the whole, so names stay apart."""
    room = MAX_NAME - len(suffix)
    if len(name) <= room:
        return name + suffix
    return f"{name[:room - 7].rstrip('-')}-{_short_hash(name)}{suffix}"


def policy_name(slo_name: str, pair: AlertPair) -> str:
    return with_suffix(slo_name, f"-{pair.severity}-{pair.long}")


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def notification_target_doc() -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "AlertNotificationTarget",
            "metadata": {"name": NOTIFICATION_TARGET, "displayName": "Alertmanager"},
            "spec": {"target": "alertmanager",
                     "description": ("The Alertmanager the agents' alerting senders or Prometheus (with the "
                                     "`journeyprobe rules` alerts) send to; it routes on the slo, severity "
                                     "and owner labels. Replace it with your tool's own target.")}}


def service_doc(journey: Journey, name: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Service",
            "metadata": {"name": name, "displayName": display_name(journey.name),
                         "annotations": {"journeyprobe.journey": journey.name}},
            "spec": {"description": _text(journey.description or f"Synthetic journey {journey.name}")}}


def alert_policy_doc(journey: Journey, slo: Slo, slo_name: str, pair: AlertPair) -> dict[str, Any]:
    """One window pair of an SLO as a policy with one condition (see the module's docstring)."""
    name = policy_name(slo_name, pair)
    threshold = round(pair.threshold, 4)
    budget = (f"{pair.consumed:.0%} of the error budget of {slo.name} is gone within {pair.long} "
              f"(burn rate above {threshold:g})")
    refinement = (f"The agent and the Prometheus rules also require the last {pair.short} to burn as fast "
                  f"(annotation journeyprobe.short-window).")
    condition = {
        "kind": "AlertCondition",
        "metadata": {"name": name, "displayName": f"Burn rate over {pair.long}",
                     "annotations": {"journeyprobe.short-window": pair.short}},
        "spec": {"description": _text(f"Fires when {budget}. {refinement}"), "severity": pair.severity,
                 "condition": {"kind": "burnrate", "op": "gt", "threshold": threshold,
                               "lookbackWindow": pair.long, "alertAfter": ALERT_AFTER}},
    }
    return {"apiVersion": API_VERSION, "kind": "AlertPolicy",
            "metadata": {"name": name, "displayName": f"{display_name(slo.name)}: {pair.severity}, {pair.long} burn",
                         "annotations": {"journeyprobe.journey": journey.name, "journeyprobe.slo": slo.name}},
            "spec": {"description": _text(f"{pair.severity.capitalize()} when {budget}."),
                     "alertWhenBreaching": True, "alertWhenResolved": True,
                     # A window without runs has no burn rate; stale agents are the `up` alert's job.
                     "alertWhenNoData": False,
                     "conditions": [condition],
                     "notificationTargets": [{"targetRef": NOTIFICATION_TARGET}]}}


def slo_doc(journey: Journey, slo: Slo, name: str, service: str, policies: Sequence[str]) -> dict[str, Any]:
    good, total = selectors(journey.name, slo)
    spec: dict[str, Any] = {
        "description": _text(slo_description(slo, journey.name)),
        "service": service,
        "indicator": {
            "metadata": {"name": with_suffix(name, "-sli")},
            "spec": {"ratioMetric": {"counter": True,
                                     "good": _source(f"sum({good})"),
                                     "total": _source(f"sum({total})")}},
        },
        "timeWindow": [{"duration": openslo_duration(slo.window, f"SLO {slo.name} window"), "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"displayName": display_name(slo.name), "target": round(slo.objective, 10)}],
    }
    if policies:
        spec["alertPolicies"] = list(policies)
    metadata: dict[str, Any] = {"name": name, "displayName": display_name(slo.name)}
    if LABEL_VALUE.match(journey.name):
        metadata["labels"] = {"journey": [journey.name]}
    metadata["annotations"] = {"journeyprobe.journey": journey.name, "journeyprobe.slo": slo.name,
                               "journeyprobe.owner": slo.owner}
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def openslo_documents(journeys: Sequence[Journey]) -> list[dict[str, Any]]:
    services, names = service_names(journeys), slo_names(journeys)
    docs: list[dict[str, Any]] = []
    for journey in journeys:
        if not journey.slos:
            continue
        docs.append(service_doc(journey, services[journey.name]))
        for slo in journey.slos:
            name = names[(journey.name, slo.name)]
            policies = [alert_policy_doc(journey, slo, name, pair) for pair in alert_pairs(slo.window)]
            docs.append(slo_doc(journey, slo, name, services[journey.name],
                                [p["metadata"]["name"] for p in policies]))
            docs.extend(policies)
    if any(d["kind"] == "AlertPolicy" for d in docs):
        docs.insert(0, notification_target_doc())
    return docs


def openslo_yaml(journeys: Sequence[Journey]) -> str:
    """A multi-document YAML stream, `---` between documents."""
    return yaml.safe_dump_all(openslo_documents(journeys), sort_keys=False, width=120, allow_unicode=True,
                              explicit_start=True)
