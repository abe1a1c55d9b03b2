"""`journeyprobe rules --format openslo` writes OpenSLO v1 that validates, with one condition per AlertPolicy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from agent.journey.loader import load_journeys
from agent.slo.rules.openslo import openslo_documents, shorthand
from agent.slo.rules.output import rules_yaml
from tests.test_slo_fixtures import slo_journey

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = Draft7Validator(json.loads((ROOT / "tests/fixtures/openslo_v1.schema.json").read_text()))
JOURNEYS = [
    slo_journey("checkout", slos=[{"name": "checkout-success", "objective": "99.9%", "window": "30d",
                                   "owner": "Head of Product", "description": "Customers can pay"}]),
    slo_journey("search_v2", slos=[{"name": "search_fast", "indicator": {"latency": "1500ms"},
                                    "objective": "99%", "window": "7d", "owner": "CTO"}]),
    slo_journey("young", slos=[{"name": "young-success", "objective": "99%", "window": "90m", "owner": "SRE"}]),
]


def problems(doc: dict[str, Any]) -> list[str]:
    return [f"{doc['kind']} {doc['metadata'].get('name')}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in VALIDATOR.iter_errors(doc)]


@pytest.mark.parametrize("journeys", [
    pytest.param(JOURNEYS, id="fixtures"),
    pytest.param(load_journeys([str(ROOT / "journeys")]), id="bundled-examples"),
])
def test_every_document_validates(journeys: list[Any]) -> None:
    docs = list(yaml.safe_load_all(rules_yaml(journeys, "openslo")))
    assert docs and [p for d in docs for p in problems(d)] == []


def test_one_condition_per_policy_and_every_reference_resolves() -> None:
    docs = openslo_documents(JOURNEYS)
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    slo = by_kind["SLO"]["checkout-success"]
    assert slo["spec"]["alertPolicies"] == ["checkout-success-page-1h", "checkout-success-page-6h",
                                            "checkout-success-ticket-1d", "checkout-success-ticket-3d"]
    for name in slo["spec"]["alertPolicies"]:
        policy = by_kind["AlertPolicy"][name]["spec"]
        [condition] = policy["conditions"]
        assert condition["conditionRef"] in by_kind["AlertCondition"]
        assert [t["targetRef"] for t in policy["notificationTargets"]] == [f"journeyprobe-{name.split('-')[2]}"]
        assert policy["alertWhenNoData"] is False
    page = by_kind["AlertCondition"]["checkout-success-page-1h-burn"]
    assert page["spec"]["condition"] == {"kind": "burnrate", "op": "gt", "threshold": 14.4,
                                         "lookbackWindow": "1h", "alertAfter": "1m"}
    assert page["metadata"]["annotations"] == {"journeyprobe.dev/short-window": "5m"}
    assert slo["metadata"]["annotations"] == {"journeyprobe.dev/owner": "Head of Product"}
    assert set(by_kind["AlertNotificationTarget"]) == {"journeyprobe-page", "journeyprobe-ticket"}


def test_names_are_lower_case_and_durations_are_v1_shorthands() -> None:
    names = [d["metadata"]["name"] for d in openslo_documents(JOURNEYS)]
    assert "search-v2" in names and "search-fast" in names
    assert [shorthand(s) for s in (300, 5400, 86400, 28 * 86400, 20)] == ["5m", "90m", "1d", "28d", "1m"]


@pytest.mark.parametrize("broken, complaint", [
    pytest.param({"conditions": [{"conditionRef": "a"}, {"conditionRef": "b"}]}, "is too long", id="two-conditions"),
    pytest.param({"notificationTargets": []}, "should be non-empty", id="no-target"),
    pytest.param({"alertWhenNoData": None}, "is not of type 'boolean'", id="no-data-flag"),
])
def test_the_schema_catches_what_v1_forbids(broken: dict[str, Any], complaint: str) -> None:
    policy = next(d for d in openslo_documents(JOURNEYS) if d["kind"] == "AlertPolicy")
    policy["spec"].update(broken)
    assert any(complaint in p for p in problems(policy)), problems(policy)


def test_one_service_and_slo_per_journey_and_slo_names_unique_and_dns_safe() -> None:
    a = slo_journey("shop_a", slos=[{"name": "avail", "objective": "99%", "owner": "x"}])
    b = slo_journey("shop.b", slos=[{"name": "avail", "objective": "99%", "owner": "y"}])
    docs = openslo_documents([a, b])
    names = [(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in ("Service", "SLO")]
    assert names == [("Service", "shop-a"), ("SLO", "shop-a-avail"), ("Service", "shop-b"), ("SLO", "shop-b-avail")]
    slo = next(d for d in docs if d["kind"] == "SLO")
    assert slo["spec"]["timeWindow"] == [{"duration": "28d", "isRolling": True}]
    assert slo["spec"]["objectives"][0]["target"] == 0.99 and slo["spec"]["budgetingMethod"] == "Occurrences"
    ratio = slo["spec"]["indicator"]["spec"]["ratioMetric"]
    assert ratio["counter"] is True and ratio["good"]["metricSource"]["type"] == "Prometheus"
