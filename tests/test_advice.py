"""Low-traffic advice: a single failed run must not page without the author being told."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.journey.loader import load_journeys
from agent.slo.advice import journey_warnings
from tests.test_slo_fixtures import slo_journey


def slo(objective: str, window: str = "28d", **alerting: int) -> list[dict[str, object]]:
    return [{"name": "checkout-success", "objective": objective, "window": window, "owner": "Head of Product",
             **({"alerting": alerting} if alerting else {})}]


def test_one_run_a_minute_at_99_9_warns_and_says_what_to_change() -> None:
    [warning] = journey_warnings([slo_journey("checkout", interval="60s", slos=slo("99.9%"))])
    assert warning.startswith("checkout: SLO checkout-success: one failed run in 1h at one run every 1m is a "
                              "16.7x burn against 99.9%, above the 13.4x page threshold for a 28d window")
    assert "a single blip pages" in warning
    assert "run every 45s" in warning
    assert "lower the objective to 99.8%" in warning
    assert "set alerting.min_runs: 6" in warning and "needs 3 failed runs" in warning


@pytest.mark.parametrize(("interval", "objective", "window"), [
    pytest.param("10s", "99%", "28d", id="10s-99"),
    pytest.param("60s", "99.5%", "28d", id="60s-99.5"),
    pytest.param("30s", "99.9%", "30d", id="30s-99.9-30d"),
    pytest.param("10s", "99.9%", "28d", id="10s-99.9"),
])
def test_no_warning_when_one_failure_stays_under_the_page_threshold(interval: str, objective: str,
                                                                     window: str) -> None:
    journey = slo_journey("checkout", interval=interval, slos=slo(objective, window))
    assert list(journey_warnings([journey])) == []


def test_no_slos_no_warnings() -> None:
    assert list(journey_warnings([slo_journey("plain", slos=[])])) == []


def test_min_runs_that_can_never_be_met_is_reported() -> None:
    [warning] = journey_warnings([slo_journey("rare", interval="1h", slos=slo("99%", min_runs=20))])
    assert "alerting.min_runs: 20 is more runs than the journey makes in any short window" in warning
    assert "never alerts" in warning


def test_min_runs_that_already_silences_the_blip_is_not_nagged_about() -> None:
    assert list(journey_warnings([slo_journey("checkout", slos=slo("99.9%", min_runs=6))])) == []


def test_the_warning_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "checkout.yaml"
    path.write_text("name: checkout\ninterval: 60s\nsteps:\n  - name: home\n    http: {url: 'http://x/'}\n"
                    "slos:\n  - name: checkout-success\n    objective: 99.9%\n    owner: Head of Product\n")
    [warning] = journey_warnings(load_journeys([str(path)]))
    assert warning.startswith(f"{path}: SLO checkout-success: ")


def test_the_same_slo_name_in_two_journeys_is_reported() -> None:
    same = [{"name": "availability", "objective": "99%", "owner": "x"}]
    warnings = list(journey_warnings([slo_journey("a", slos=same), slo_journey("b", slos=same)]))
    assert warnings == ["a, b: SLO name availability is used by 2 journeys; the slo label of metrics and "
                        "alerts carries only the SLO name, so give each a distinct name"]


def test_a_small_min_events_that_lets_the_first_failure_page_is_reported() -> None:
    """30s runs at 99.9%: a full hour (120 runs) keeps one failure quiet, a young SLO with min_events: 0 does not."""
    assert list(journey_warnings([slo_journey("checkout", interval="30s", slos=slo("99.9%"))])) == []
    [warning] = journey_warnings([slo_journey("checkout", interval="30s", slos=slo("99.9%", min_events=0))])
    assert warning.startswith("checkout: SLO checkout-success: its first failed run would page: "
                              "alerting.min_events: 0 lets the 1h pair judge from 1 run, where one failure is a "
                              "1000.0x burn against 99.9%, above the 13.4x page threshold")
    assert warning.endswith("remove min_events (auto waits for 75 runs in 1h, 179 runs in 6h) or set it to 179")
    assert list(journey_warnings([slo_journey("checkout", interval="30s", slos=slo("99.9%", min_events=179))])) == []


def test_min_events_that_can_never_be_met_is_reported() -> None:
    [warning] = journey_warnings([slo_journey("rare", interval="1h", slos=slo("99%", min_events=1000))])
    assert "alerting.min_events: 1000 is more events than the journey makes in any long window" in warning
    assert "never alerts" in warning


def test_the_bundled_journeys_give_no_warning() -> None:
    from agent.journey.loader import load_journeys

    root = Path(__file__).parent.parent / "journeys"
    assert list(journey_warnings(load_journeys([str(root)]))) == []
