"""`journeyprobe rules`: promtool checks and unit-tests the generated rules (OpenSLO: test_openslo.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.slo.rules.output import RulesError, rules_yaml
from agent.slo.rules.prometheus import DURATION_BUCKETS, rule_problems
from agent.slo.rules.selectors import le_regex
from tests.test_slo_fixtures import slo_journey

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool is not installed")

JOURNEYS = [
    slo_journey("checkout", slos=[{"name": "checkout-success", "objective": "99.9%", "window": "30d",
                                   "owner": "Head of Product", "description": "Customers can pay"}]),
    slo_journey("pay", slos=[{"name": "pay-success", "objective": "99%", "window": "30d", "owner": "CFO"}]),
    slo_journey("search", slos=[{"name": "search-fast", "indicator": {"latency": "1s"}, "objective": "99%",
                                 "window": "30d", "owner": "CTO"}]),
    slo_journey("thin", slos=[{"name": "thin-success", "objective": "99%", "window": "30d", "owner": "Ops",
                               "alerting": {"min_runs": 100}}]),
]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=180,
                          check=False)


def runs(journey: str, outcome: str, per_minute: int, minutes: int, location: str = "tokyo-1",
         error_type: str | None = None) -> dict[str, str]:
    labels = {"journey_name": journey, "journey_outcome": outcome, "probe_location": location,
              "instance": f"agent-{location}", "job": "journeyprobe"}
    if error_type:
        labels["error_type"] = error_type
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"journey_runs_total{{{inner}}}", "values": f"0+{per_minute}x{minutes}"}


def expected(rules: dict[str, Any], journey: str, slo: str, severity: str) -> dict[str, Any]:
    """The alert promtool should see: our static labels and annotations, plus the series' journey_name."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") and rule["labels"]["slo"] == slo and rule["labels"]["severity"] == severity:
                return {"exp_labels": {**rule["labels"], "journey_name": journey},
                        "exp_annotations": rule["annotations"]}
    raise AssertionError(f"no {severity} rule for {slo}")


def unit_tests(rules: dict[str, Any]) -> dict[str, Any]:
    def alerts(*which: tuple[str, str, str]) -> list[dict[str, Any]]:
        return [expected(rules, *w) for w in which]

    return {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [
        {"name": "a fast burn pages (and tickets)", "interval": "1m",
         "input_series": [runs("checkout", "success", 54, 120),
                          runs("checkout", "failure", 6, 120, error_type="assertion")],
         "alert_rule_test": [
             {"eval_time": "20m", "alertname": "SLOBurnRate",
              "exp_alerts": alerts(("checkout", "checkout-success", "page"),
                                   ("checkout", "checkout-success", "ticket"))}]},
        {"name": "the error ratio is recorded per SLO, summed over locations", "interval": "1m",
         "input_series": [runs("pay", "success", 30, 120, "a"),
                          runs("pay", "failure", 30, 120, "b", "assertion")],
         "promql_expr_test": [{
             "expr": 'journey:slo_errors_ratio:rate1h{slo="pay-success"}', "eval_time": "90m",
             "exp_samples": [{
                 "labels": 'journey:slo_errors_ratio:rate1h{journey_name="pay",slo="pay-success"}',
                 "value": 0.5}]}]},
        {"name": "agent-side failures burn nothing", "interval": "1m",
         "input_series": [runs("checkout", "success", 54, 120),
                          runs("checkout", "error", 30, 120, error_type="agent")],
         "alert_rule_test": [{"eval_time": "90m", "alertname": "SLOBurnRate", "exp_alerts": []}]},
        {"name": "healthy is quiet", "interval": "1m",
         "input_series": [runs(j, "success", 60, 120) for j in ("checkout", "pay", "thin")],
         "alert_rule_test": [{"eval_time": "90m", "alertname": "SLOBurnRate", "exp_alerts": []}]},
        {"name": "a slow burn tickets but does not page", "interval": "10m",
         "input_series": [runs("checkout", "success", 1990, 160),
                          runs("checkout", "failure", 10, 160, error_type="assertion")],  # 0.5% for 26h
         "alert_rule_test": [
             {"eval_time": "25h", "alertname": "SLOBurnRate",
              "exp_alerts": alerts(("checkout", "checkout-success", "ticket"))}]},
        {"name": "locations are summed: one bad location of three does not page", "interval": "1m",
         "input_series": [runs("pay", "success", 84, 120, "a"),
                          runs("pay", "failure", 16, 120, "a", "assertion"),
                          runs("pay", "success", 100, 120, "b"), runs("pay", "success", 100, 120, "c")],
         "alert_rule_test": [{"eval_time": "90m", "alertname": "SLOBurnRate",
                              "exp_alerts": alerts(("pay", "pay-success", "ticket"))}]},
        {"name": "a latency SLO counts runs over the bucket boundary as bad", "interval": "1m",
         "input_series": [
             runs("search", "success", 60, 120),
             {"series": 'journey_duration_seconds_bucket{journey_name="search",journey_outcome="success",'
                        'probe_location="tokyo-1",le="1.0"}', "values": "0+50x120"},
             {"series": 'journey_duration_seconds_bucket{journey_name="search",journey_outcome="success",'
                        'probe_location="tokyo-1",le="+Inf"}', "values": "0+60x120"}],
         "alert_rule_test": [{"eval_time": "30m", "alertname": "SLOBurnRate",
                              "exp_alerts": alerts(("search", "search-fast", "page"),
                                                   ("search", "search-fast", "ticket"))}]},
        {"name": "min_runs keeps a thin journey from paging", "interval": "1m",
         "input_series": [runs("thin", "success", 1, 120),
                          runs("thin", "failure", 1, 120, error_type="assertion")],
         "alert_rule_test": [{"eval_time": "90m", "alertname": "SLOBurnRate",
                              "exp_alerts": alerts(("thin", "thin-success", "ticket"))}]},
    ]}


@needs_promtool
def test_promtool_checks_and_unit_tests_the_rules(tmp_path: Path) -> None:
    text = rules_yaml(JOURNEYS)
    (tmp_path / "rules.yaml").write_text(text)
    checked = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = yaml.safe_load(text)
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(unit_tests(rules), sort_keys=False))
    tested = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rule_names_labels_and_thresholds() -> None:
    rules = yaml.safe_load(rules_yaml(JOURNEYS[:1]))
    recordings, alerts = rules["groups"]
    names = [r["record"] for r in recordings["rules"]]
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert names[:7] == [f"journey:slo_errors_ratio:rate{w}" for w in windows]
    assert "journey:slo_errors_ratio:rate30d" in names
    assert all(r["labels"]["slo"] == "checkout-success" for r in recordings["rules"])
    assert "sum by (journey_name)" in recordings["rules"][0]["expr"]
    assert 'error_type!~"agent|internal|cancelled"' in recordings["rules"][0]["expr"]
    page, ticket = alerts["rules"]
    assert page["labels"] == {"severity": "page", "owner": "Head of Product", "slo": "checkout-success",
                              "journey": "checkout"}
    assert "(14.4 * 0.001)" in page["expr"] and "(6 * 0.001)" in page["expr"]
    assert "(3 * 0.001)" in ticket["expr"] and "(1 * 0.001)" in ticket["expr"]


def test_a_latency_that_is_no_bucket_boundary_is_refused() -> None:
    odd = slo_journey("checkout-api", slos=[{"name": "fast", "indicator": {"latency": "1500ms"},
                                             "objective": "99%", "window": "28d", "owner": "CTO"}])
    assert 1.5 not in DURATION_BUCKETS
    with pytest.raises(RulesError) as caught:
        rules_yaml([odd])
    [problem] = caught.value.problems
    assert "latency 1.5s is not a boundary" in problem and "use 1s or 2s" in problem
    assert rule_problems([odd], buckets=(1, 1.5, 5)) == []
    assert le_regex(1) == "1|1\\\\.0" and le_regex(0.25) == "0\\\\.25"
