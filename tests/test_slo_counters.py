"""`slo_events_total` / `slo_good_events_total`: at 0 from the start, counted with the agent's own verdicts."""

from __future__ import annotations

from dataclasses import replace

from agent.journey.model import Journey
from exporters.prometheus import parse_exposition
from exporters.telemetry import Telemetry
from tests.test_slo_fixtures import NOW, run_result, slo_journey

JOURNEY = slo_journey("checkout", slos=[
    {"name": "checkout-success", "objective": "99%", "owner": "x"},
    {"name": "checkout-fast", "indicator": {"latency": "300ms"}, "objective": "99%", "owner": "x"}],
    labels={"team": "shop"})
PLAIN = slo_journey("plain", slos=[])


def scrape(telemetry: Telemetry) -> dict[str, dict[tuple[str, str], float]]:
    """Sample name -> {(journey, slo): value} of the SLO counters (every sample must name eu-west-1)."""
    body, _ = telemetry.metrics()
    out: dict[str, dict[tuple[str, str], float]] = {}
    for name, samples in parse_exposition(body.decode()).items():
        for labels, value in samples:
            if name in ("slo_events_total", "slo_good_events_total"):
                assert set(labels) == {"slo_name", "journey_name", "probe_location"}
                assert labels["probe_location"] == "eu-west-1"
                out.setdefault(name, {})[(labels["journey_name"], labels["slo_name"])] = value
            elif name == "journey_runs_total":
                out.setdefault(name, {})[(labels["journey_name"], labels["journey_outcome"])] = value
    return out


def telemetry_for(journeys: list[Journey]) -> Telemetry:
    telemetry = Telemetry(location="eu-west-1")
    telemetry.slo_counters.track(lambda: journeys)
    return telemetry


def test_every_slo_is_exported_at_0_before_its_first_run() -> None:
    telemetry = telemetry_for([JOURNEY, PLAIN])
    seen = scrape(telemetry)
    zero = {("checkout", "checkout-success"): 0.0, ("checkout", "checkout-fast"): 0.0}
    assert seen["slo_events_total"] == zero and seen["slo_good_events_total"] == zero
    # the success series of every journey exists at 0 too; failures carry an error_type known only later
    assert seen["journey_runs_total"] == {("checkout", "success"): 0.0, ("plain", "success"): 0.0}
    telemetry.shutdown()


def test_counts_are_the_agents_verdicts() -> None:
    telemetry = telemetry_for([JOURNEY])
    counters = telemetry.slo_counters
    for result in (run_result("checkout", NOW, True, duration=0.1),  # good for both
                   run_result("checkout", NOW + 1, True, duration=0.5),  # passed, but slower than 300ms
                   run_result("checkout", NOW + 2, False),  # bad for both
                   run_result("checkout", NOW + 3, False, agent_side=True)):  # the probe failed: no event
        result = replace(result, location="eu-west-1")
        counters.record(result, JOURNEY)
        telemetry.record(result, JOURNEY)
    seen = scrape(telemetry)
    assert seen["slo_events_total"] == {("checkout", "checkout-success"): 3.0, ("checkout", "checkout-fast"): 3.0}
    assert seen["slo_good_events_total"] == {("checkout", "checkout-success"): 2.0,
                                             ("checkout", "checkout-fast"): 1.0}
    assert seen["journey_runs_total"][("checkout", "success")] == 2.0  # the zero-initialised series counts on
    telemetry.shutdown()


def test_a_removed_journey_stops_being_exported() -> None:
    journeys = [JOURNEY]
    telemetry = telemetry_for(journeys)
    telemetry.slo_counters.record(replace(run_result("checkout", NOW, False), location="eu-west-1"), JOURNEY)
    assert scrape(telemetry)["slo_events_total"] == {("checkout", "checkout-success"): 1.0,
                                                     ("checkout", "checkout-fast"): 1.0}
    journeys.clear()
    assert "slo_events_total" not in scrape(telemetry)
    telemetry.shutdown()
