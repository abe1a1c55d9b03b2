"""`journeyprobe rules --format openslo`: every document validates against OpenSLO v1.

The schema is tests/fixtures/openslo_v1.schema.json, the project's own transcription of the v1
constraints (see its $comment). The documents come from the real CLI over the bundled journeys
and the test fixtures.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agent.slo.rules.openslo import openslo_documents
from agent.slo.rules.output import RulesError, rules_yaml
from tests.test_slo_fixtures import slo_journey

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests/fixtures/openslo_v1.schema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)

JOURNEYS = [
    slo_journey("checkout", slos=[{"name": "checkout-success", "objective": "99.9%", "window": "30d",
                                   "owner": "Head of Product", "description": "Customers can pay"}]),
    slo_journey("search", slos=[{"name": "search-fast", "indicator": {"latency": "1s"}, "objective": "99%",
                                 "window": "30d", "owner": "CTO"}]),
    slo_journey("hourly", slos=[{"name": "hourly_success", "objective": "99%", "window": "12h", "owner": "Ops"}]),
]


def cli_documents(*paths: str) -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "agent", "rules", "--format", "openslo", *paths], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return list(yaml.safe_load_all(proc.stdout))


def problems(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_the_schema_is_valid_draft_07() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("paths", [("journeys",), ("tests/fixtures/valid",)])
def test_every_document_of_the_cli_validates(paths: tuple[str, ...]) -> None:
    docs = cli_documents(*paths)
    assert {d["kind"] for d in docs} >= {"Service", "SLO", "AlertPolicy", "AlertNotificationTarget"}
    invalid = [(d["kind"], d["metadata"]["name"], problems(d)) for d in docs if problems(d)]
    assert invalid == []


@pytest.mark.parametrize("paths", [("journeys",), ("tests/fixtures/valid",)])
def test_every_reference_names_a_document_of_the_stream(paths: tuple[str, ...]) -> None:
    docs = cli_documents(*paths)
    services, policies = by_kind(docs, "Service"), by_kind(docs, "AlertPolicy")
    targets = by_kind(docs, "AlertNotificationTarget")
    listed = []
    for slo in by_kind(docs, "SLO").values():
        assert slo["spec"]["service"] in services
        listed += slo["spec"]["alertPolicies"]
    assert sorted(listed) == sorted(policies), "every policy is listed by exactly one SLO"
    refs = {t["targetRef"] for p in policies.values() for t in p["spec"]["notificationTargets"]}
    assert refs and refs <= set(targets)
    for kind in ("Service", "SLO", "AlertPolicy", "AlertNotificationTarget"):
        names = [d["metadata"]["name"] for d in docs if d["kind"] == kind]
        assert len(names) == len(set(names)), f"{kind} names repeat: {names}"


def test_one_policy_per_window_pair_with_the_short_window_as_an_annotation() -> None:
    docs = openslo_documents(JOURNEYS)
    assert [d["kind"] for d in docs[:7]] == ["AlertNotificationTarget", "Service", "SLO"] + ["AlertPolicy"] * 4
    slo = docs[2]
    assert slo["metadata"]["name"] == "checkout-success" and slo["spec"]["service"] == "checkout"
    assert slo["spec"]["timeWindow"] == [{"duration": "30d", "isRolling": True}]
    assert slo["spec"]["objectives"][0]["target"] == 0.999
    assert slo["metadata"]["annotations"]["journeyprobe.owner"] == "Head of Product"
    policies = docs[3:7]
    assert slo["spec"]["alertPolicies"] == [p["metadata"]["name"] for p in policies] == [
        "checkout-success-page-1h", "checkout-success-page-6h",
        "checkout-success-ticket-1d", "checkout-success-ticket-3d"]
    rows = []
    for policy in policies:
        spec = policy["spec"]
        assert (spec["alertWhenBreaching"], spec["alertWhenResolved"], spec["alertWhenNoData"]) == (True, True, False)
        assert spec["notificationTargets"] == [{"targetRef": "journeyprobe-alertmanager"}]
        [condition] = spec["conditions"]
        c = condition["spec"]["condition"]
        rows.append((condition["spec"]["severity"], c["lookbackWindow"], c["threshold"], c["alertAfter"],
                     condition["metadata"]["annotations"]["journeyprobe.short-window"]))
    assert rows == [("page", "1h", 14.4, "1m", "5m"), ("page", "6h", 6.0, "1m", "30m"),
                    ("ticket", "1d", 3.0, "1m", "2h"), ("ticket", "3d", 1.0, "1m", "6h")]


def test_a_short_slo_window_keeps_only_the_pairs_that_fit() -> None:
    docs = by_kind(openslo_documents(JOURNEYS), "SLO")
    hourly = docs["hourly-success"]
    assert hourly["spec"]["timeWindow"][0]["duration"] == "12h"
    assert hourly["spec"]["alertPolicies"] == ["hourly-success-page-1h", "hourly-success-page-6h"]
    assert hourly["metadata"]["annotations"]["journeyprobe.slo"] == "hourly_success"


def test_names_are_mapped_to_the_schema_pattern_and_stay_unique() -> None:
    a = slo_journey("shop_a", slos=[{"name": "avail", "objective": "99%", "owner": "x"}])
    b = slo_journey("shop.a", slos=[{"name": "avail", "objective": "99%", "owner": "y"}])
    long = slo_journey("l" * 128, slos=[{"name": "m" * 128, "objective": "99%", "owner": "z"}])
    docs = openslo_documents([a, b, long])
    assert not [p for d in docs for p in problems(d)]
    services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service"]
    slos = [d["metadata"]["name"] for d in docs if d["kind"] == "SLO"]
    policies = [d["metadata"]["name"] for d in docs if d["kind"] == "AlertPolicy"]
    for names in (services, slos, policies):
        assert len(set(names)) == len(names)
        assert all(len(n) <= 63 and "_" not in n and n == n.lower() for n in names), names
    assert services[0].startswith("shop-a-") and services[1].startswith("shop-a-")
    assert [d["metadata"]["annotations"]["journeyprobe.journey"] for d in docs if d["kind"] == "Service"] == [
        "shop_a", "shop.a", "l" * 128]


def test_a_window_openslo_cannot_write_is_a_clear_error() -> None:
    odd = slo_journey("odd", slos=[{"name": "odd", "objective": "99%", "window": "3601s", "owner": "x"}])
    with pytest.raises(RulesError, match=r"SLO odd window: 3601s is not a whole number of minutes"):
        rules_yaml([odd], "openslo")


def mutated(change: str) -> dict[str, Any]:
    """A valid policy, broken the way the old output (or a careless edit) broke it."""
    doc = copy.deepcopy(by_kind(openslo_documents(JOURNEYS), "AlertPolicy")["checkout-success-page-1h"])
    spec = doc["spec"]
    if change == "two conditions":
        spec["conditions"].append(copy.deepcopy(spec["conditions"][0]))
    elif change == "no alertWhenNoData":
        del spec["alertWhenNoData"]
    elif change == "no notificationTargets":
        del spec["notificationTargets"]
    elif change == "underscore name":
        doc["metadata"]["name"] = "checkout_success-page"
    elif change == "no alertAfter":
        del spec["conditions"][0]["spec"]["condition"]["alertAfter"]
    elif change == "compound duration":
        spec["conditions"][0]["spec"]["condition"]["lookbackWindow"] = "1h30m"
    return doc


@pytest.mark.parametrize("change", ["two conditions", "no alertWhenNoData", "no notificationTargets",
                                    "underscore name", "no alertAfter", "compound duration"])
def test_the_schema_rejects_what_v1_forbids(change: str) -> None:
    assert problems(mutated("none")) == []
    assert problems(mutated(change)), f"the schema accepted a policy with {change}"


def test_the_schema_rejects_inline_policies_in_an_slo() -> None:
    slo = copy.deepcopy(by_kind(openslo_documents(JOURNEYS), "SLO")["checkout-success"])
    slo["spec"]["alertPolicies"] = [mutated("none")]
    assert problems(slo)
