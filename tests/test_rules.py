"""`journeyprobe rules`: promtool checks and unit-tests the generated rules (OpenSLO: test_openslo.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.slo.rules.output import rules_yaml
from tests.test_slo_fixtures import slo_journey

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool is not installed")

JOURNEYS = [
    slo_journey("checkout", slos=[{"name": "checkout-success", "objective": "99.9%", "window": "30d",
                                   "owner": "Head of Product", "description": "Customers can pay"}]),
    slo_journey("pay", slos=[{"name": "pay-success", "objective": "99%", "window": "30d", "owner": "CFO"}]),
    slo_journey("search", slos=[{"name": "search-fast", "indicator": {"latency": "1500ms"}, "objective": "99%",
                                 "window": "30d", "owner": "CTO"}]),
    slo_journey("thin", slos=[{"name": "thin-success", "objective": "99%", "window": "30d", "owner": "Ops",
                               "alerting": {"min_runs": 100}}]),
]
QUORUM = slo_journey("quorum", slos=[{"name": "quorum-success", "objective": "99%", "window": "30d",
                                      "owner": "SRE", "locations": {"min_failing": 2}}])
YOUNG = slo_journey("young", slos=[{"name": "young-success", "objective": "99.9%", "window": "30d",
                                    "owner": "SRE"}])


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=180,
                          check=False)


def slo_series(journey: str, slo: str, events: str, good: str, location: str = "tokyo-1") -> list[dict[str, str]]:
    """`slo_events_total` and `slo_good_events_total` of one SLO at one location (promtool value notation)."""
    labels = {"journey_name": journey, "slo_name": slo, "probe_location": location,
              "instance": f"agent-{location}", "job": "journeyprobe"}
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return [{"series": f"slo_events_total{{{inner}}}", "values": events},
            {"series": f"slo_good_events_total{{{inner}}}", "values": good}]


def steady(journey: str, slo: str, per_minute: int, bad_per_minute: int, minutes: int,
           location: str = "tokyo-1") -> list[dict[str, str]]:
    """An SLO's counters from 0: `per_minute` events a minute, `bad_per_minute` of them bad."""
    return slo_series(journey, slo, f"0+{per_minute}x{minutes}", f"0+{per_minute - bad_per_minute}x{minutes}",
                      location)


def expected(rules: dict[str, Any], journey: str, slo: str, severity: str,
             location: str | None = "tokyo-1", value: int | None = None) -> dict[str, Any]:
    """The alert promtool should see: our static labels and annotations, plus the location's label."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") and rule["labels"]["slo"] == slo and rule["labels"]["severity"] == severity:
                labels = {**rule["labels"], "journey_name": journey}
                annotations = dict(rule["annotations"])
                if location is not None:
                    labels["probe_location"] = location
                    annotations["summary"] = annotations["summary"].replace("{{ $labels.probe_location }}",
                                                                            location)
                if value is not None:
                    annotations["summary"] = annotations["summary"].replace("{{ $value }}", str(value))
                return {"exp_labels": labels, "exp_annotations": annotations}
    raise AssertionError(f"no {severity} rule for {slo}")


def unit_tests(rules: dict[str, Any]) -> dict[str, Any]:
    def alert(journey: str, slo: str, severity: str, location: str | None = "tokyo-1",
              value: int | None = None) -> dict[str, Any]:
        return expected(rules, journey, slo, severity, location, value)

    def quiet(series: list[dict[str, str]], at: str, name: str) -> dict[str, Any]:
        return {"name": name, "interval": "1m", "input_series": series,
                "alert_rule_test": [{"eval_time": at, "alertname": "SLOBurnRate", "exp_alerts": []}]}

    bad = "checkout", "checkout-success"
    return {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [
        {"name": "a fast burn pages (and tickets), labelled with its location", "interval": "1m",
         "input_series": steady(*bad, 60, 6, 120),
         "alert_rule_test": [{"eval_time": "20m", "alertname": "SLOBurnRate",
                              "exp_alerts": [alert(*bad, "page"), alert(*bad, "ticket")]}]},
        {"name": "the error ratio is recorded per location and for the fleet", "interval": "1m",
         "input_series": steady("pay", "pay-success", 30, 0, 120, "a") + steady("pay", "pay-success", 30, 30, 120, "b"),
         "promql_expr_test": [
             {"expr": 'journey:slo_errors_ratio:rate1h{slo="pay-success"}', "eval_time": "90m",
              "exp_samples": [{"labels": 'journey:slo_errors_ratio:rate1h{journey_name="pay",slo="pay-success"}',
                               "value": 0.5}]},
             {"expr": 'journey_location:slo_errors_ratio:rate1h{slo="pay-success"}', "eval_time": "90m",
              "exp_samples": [
                  {"labels": 'journey_location:slo_errors_ratio:rate1h{journey_name="pay",probe_location="a",'
                             'slo="pay-success"}', "value": 0},
                  {"labels": 'journey_location:slo_errors_ratio:rate1h{journey_name="pay",probe_location="b",'
                             'slo="pay-success"}', "value": 1}]}]},
        {"name": "the first failure counts: the counters start at 0", "interval": "1m",
         "input_series": slo_series(*bad, "0 0 0 1 1 1", "0 0 0 0 0 0"),
         "promql_expr_test": [
             {"expr": 'journey_location:slo_errors_ratio:rate1h{slo="checkout-success"}', "eval_time": "5m",
              "exp_samples": [{"labels": 'journey_location:slo_errors_ratio:rate1h{journey_name="checkout",'
                                         'probe_location="tokyo-1",slo="checkout-success"}', "value": 1}]},
             {"expr": 'journey_location:slo_events:increase1h{slo="checkout-success"}', "eval_time": "5m",
              "exp_samples": [{"labels": 'journey_location:slo_events:increase1h{journey_name="checkout",'
                                         'probe_location="tokyo-1",slo="checkout-success"}', "value": 1}]}]},
        quiet([s for j, slo in (("checkout", "checkout-success"), ("pay", "pay-success"), ("thin", "thin-success"),
                               ("search", "search-fast")) for s in steady(j, slo, 60, 0, 120)],
              "90m", "healthy is quiet"),
        quiet(slo_series(*bad, "_ _ _", "_ _ _"), "2m", "no events, no ratio, no alert"),
        {"name": "a slow burn tickets but does not page", "interval": "10m",
         "input_series": steady(*bad, 2000, 10, 160),  # 0.5% for 26h
         "alert_rule_test": [{"eval_time": "25h", "alertname": "SLOBurnRate",
                              "exp_alerts": [alert(*bad, "ticket")]}]},
        {"name": "each location is judged on its own: one bad location of three alerts for itself",
         "interval": "1m",
         "input_series": [*steady("pay", "pay-success", 100, 16, 120, "a"),
                          *steady("pay", "pay-success", 100, 0, 120, "b"),
                          *steady("pay", "pay-success", 100, 0, 120, "c")],
         "alert_rule_test": [{"eval_time": "90m", "alertname": "SLOBurnRate",
                              "exp_alerts": [alert("pay", "pay-success", "page", "a"),
                                             alert("pay", "pay-success", "ticket", "a")]}]},
        quiet(steady("quorum", "quorum-success", 100, 16, 120, "a")
              + steady("quorum", "quorum-success", 100, 0, 120, "b"), "90m",
              "a quorum of 2: one bad location of two stays quiet"),
        {"name": "a quorum of 2: two bad locations make one fleet alert per severity", "interval": "1m",
         "input_series": steady("quorum", "quorum-success", 100, 16, 120, "a")
         + steady("quorum", "quorum-success", 100, 20, 120, "b") + steady("quorum", "quorum-success", 100, 0, 120, "c"),
         "alert_rule_test": [{"eval_time": "90m", "alertname": "SLOBurnRate",
                              "exp_alerts": [alert("quorum", "quorum-success", "page", None, 2),
                                             alert("quorum", "quorum-success", "ticket", None, 2)]}]},
        {"name": "a latency SLO counts the agent's verdicts: no histogram boundary needed", "interval": "1m",
         "input_series": steady("search", "search-fast", 60, 10, 120),
         "alert_rule_test": [{"eval_time": "30m", "alertname": "SLOBurnRate",
                              "exp_alerts": [alert("search", "search-fast", "page"),
                                             alert("search", "search-fast", "ticket")]}]},
        {"name": "min_runs keeps a thin journey from paging", "interval": "1m",
         "input_series": steady("thin", "thin-success", 2, 1, 120),
         "alert_rule_test": [{"eval_time": "90m", "alertname": "SLOBurnRate",
                              "exp_alerts": [alert("thin", "thin-success", "ticket")]}]},
        quiet(slo_series("young", "young-success", "0 1 2 3", "0 1 1 2"), "3m",
              "a young SLO: one failure in three runs does not page"),
        {"name": "a young SLO pages once its window holds enough runs", "interval": "1m",
         "input_series": slo_series("young", "young-success", "0+1x70", "0+1x10 10+0x60"),
         "alert_rule_test": [
             {"eval_time": "50m", "alertname": "SLOBurnRate", "exp_alerts": []},  # 50 runs: the 1h pair needs 54
             {"eval_time": "60m", "alertname": "SLOBurnRate",
              "exp_alerts": [alert("young", "young-success", "page")]}]},
    ]}


@needs_promtool
def test_promtool_checks_and_unit_tests_the_rules(tmp_path: Path) -> None:
    journeys = [*JOURNEYS, QUORUM, YOUNG]
    text = rules_yaml(journeys)
    (tmp_path / "rules.yaml").write_text(text)
    checked = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # each test reads only the rules of the journey its series belong to: a fifth of the work
    for journey in journeys:
        (tmp_path / f"rules-{journey.name}.yaml").write_text(rules_yaml([journey]))
    files = []
    for test in unit_tests(yaml.safe_load(text))["tests"]:
        journey = test["input_series"][0]["series"].split('journey_name="')[1].split('"')[0]
        slow = test["interval"] != "1m"
        name = f"tests-{len(files)}.yaml"
        (tmp_path / name).write_text(yaml.safe_dump({
            "rule_files": [f"rules-{journey}.yaml"], "evaluation_interval": test["interval"] if slow else "1m",
            "tests": [test]}, sort_keys=False))
        files.append(name)
    tested = promtool("test", "rules", *files, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_rule_names_labels_and_thresholds() -> None:
    rules = yaml.safe_load(rules_yaml(JOURNEYS[:1]))
    recordings, alerts = rules["groups"]
    names = [r["record"] for r in recordings["rules"]]
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert [n for n in names if n.startswith("journey:slo_errors_ratio")] == [
        *(f"journey:slo_errors_ratio:rate{w}" for w in windows), "journey:slo_errors_ratio:rate30d"]
    assert [n for n in names if n.startswith("journey_location:slo_errors_ratio")] == [
        *(f"journey_location:slo_errors_ratio:rate{w}" for w in windows), "journey_location:slo_errors_ratio:rate30d"]
    assert [n for n in names if n.startswith("journey_location:slo_events")] == [
        f"journey_location:slo_events:increase{w}" for w in windows]
    assert all(r["labels"]["slo"] == "checkout-success" for r in recordings["rules"])
    assert "sum by (journey_name, probe_location)" in recordings["rules"][0]["expr"]
    assert 'slo_events_total{journey_name="checkout",slo_name="checkout-success"}' in recordings["rules"][0]["expr"]
    page, ticket = alerts["rules"]
    assert page["labels"] == {"severity": "page", "owner": "Head of Product", "slo": "checkout-success",
                              "journey_name": "checkout"}
    assert "(14.4 * 0.001)" in page["expr"] and "(6 * 0.001)" in page["expr"]
    assert "(3 * 0.001)" in ticket["expr"] and "(1 * 0.001)" in ticket["expr"]
    # one run a minute, 99.9%: the 1h pair needs 54 runs (90% of a full hour; 70 would keep one failure quiet)
    assert 'journey_location:slo_events:increase1h{slo="checkout-success",journey_name="checkout"} >= 54' \
        in page["expr"]


def test_rule_alerts_carry_the_labels_of_the_agents_alerts() -> None:
    """Alertmanager dedups an agent's alert and the rules' alert for the same location only if the
    identifying labels are the same set: the rules' static labels plus what their series keep."""
    from agent.slo.alerts import Notification
    from exporters.notify_alertmanager import alert_labels

    [page, _] = yaml.safe_load(rules_yaml(JOURNEYS[:1]))["groups"][1]["rules"]
    note = Notification(kind="firing", key="checkout/checkout-success", slo="checkout-success", journey="checkout",
                        severity="page", owner="Head of Product", location="tokyo-1", since=0, at=0, summary="",
                        description="", objective=0.999, window_s=30 * 86400)
    series_labels = {"journey_name", "probe_location", "slo"}  # what the per-location recordings keep
    assert set(alert_labels(note)) == {"alertname", *page["labels"], *series_labels}
    assert {k: alert_labels(note)[k] for k in page["labels"]} == page["labels"]
