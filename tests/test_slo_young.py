"""Honest young SLOs and location quorums: the agent does not page on too little data, and says why."""

from __future__ import annotations

from agent.config.models import AgentConfig
from agent.daemon.slo_service import SloService
from agent.slo.alerts import Notification, assess
from agent.slo.wording import firing_summary
from tests.test_alert_state import feed, kinds
from tests.test_slo_fixtures import NOW, FakeStore, slo_journey

CONFIG = AgentConfig.model_validate({"location": "eu-west-1", "alerts": {"evaluate_every": "30s"}})


def journey(interval: str = "30s", **slo: object):  # type: ignore[no-untyped-def]
    return slo_journey("checkout", interval=interval, slos=[{
        "name": "checkout-success", "objective": "99.5%", "window": "28d", "owner": "Head of Product", **slo}])


async def service_with(js: object, runs: list[bool], start: float = NOW) -> tuple[SloService, list[Notification]]:
    """A service whose clock reads just after the last run."""
    store = FakeStore()
    notes: list[Notification] = []
    service = SloService(CONFIG, store, lambda: [js], notes.append,  # type: ignore[list-item]
                         clock=lambda: start + len(runs) * 30 + 20)
    await service.book.load()
    await service.evaluate(start - 1)  # loads the (empty) history: the SLO starts from nothing
    for i, passed in enumerate(runs):
        await feed(store, service, js, start + i * 30, passed)  # type: ignore[arg-type]
    return service, notes


async def test_one_failure_in_three_runs_does_not_page_and_says_why() -> None:
    js = journey()
    service, _ = await service_with(js, [True, False, True])
    at = NOW + 80
    assert kinds(await service.evaluate(at)) == []
    [entry] = await service.status()
    # one failure in 15 runs is 13.3x against 99.5%, just under the 1h page threshold (13.44x for 28 days)
    assert entry["judgement"] == "3 runs so far: too few to judge (paging needs 15 in the last hour)"
    assert entry["thresholds"][0] == {"severity": "page", "long": "1h", "short": "5m", "threshold": 13.44,
                                      "min_events": 15}
    assert entry["data_since"] == NOW and entry["data_s"] < 28 * 86400
    assert entry["error_budget_remaining"] < -60  # a third of the runs failed: a budget of 0.5% is long gone


async def test_the_same_failure_pages_with_min_events_0() -> None:
    js = journey(alerting={"min_events": 0})
    service, _ = await service_with(js, [True, False, True])
    assert kinds(await service.evaluate(NOW + 80)) == [("firing", "page"), ("firing", "ticket")]
    page = service.book.state("checkout/checkout-success", "page").details["summary"]
    # the budget gone is what 2 minutes of data burnt, not a whole hour's worth at that pace
    assert page.endswith("of the 28-day budget gone in the 1 minute of data so far"), page


async def test_a_young_outage_pages_once_the_window_holds_enough_runs() -> None:
    js = journey()
    service, _ = await service_with(js, [False] * 14)
    assert kinds(await service.evaluate(NOW + 14 * 30)) == []
    await feed(service.engine.store, service, js, NOW + 14 * 30, False)  # type: ignore[arg-type]
    assert kinds(await service.evaluate(NOW + 15 * 30)) == [("firing", "page")]  # a ticket needs 72 runs


async def test_a_quorum_slo_is_left_to_the_fleet() -> None:
    js = journey(locations={"min_failing": 2})
    service, _ = await service_with(js, [False] * 40)
    report = service.engine.evaluate(NOW + 40 * 30)[0]
    assert assess(report, "page", "eu-west-1").decision is False
    assert kinds(await service.evaluate(NOW + 40 * 30)) == []
    [entry] = await service.status()
    assert entry["min_failing_locations"] == 2
    assert entry["judgement"] == ("alerts only when at least 2 locations fail together: judged across the fleet "
                                  "by the Prometheus rules (this agent sees eu-west-1 only)")


def test_the_firing_summary_of_a_full_window_is_unchanged() -> None:
    slo = journey().slos[0]
    assert firing_summary(slo, 14.9, "1h", 3600) == firing_summary(slo, 14.9, "1h", 3600, 28 * 86400) == (
        "Checkout success is burning its error budget 14.9x faster than sustainable: 2.2% of the 28-day budget "
        "gone in the last hour")


async def test_the_slo_table_says_why() -> None:
    import io

    from agent.cli.slo import render_table

    service, _ = await service_with(journey(), [True, False, True])
    out = io.StringIO()
    render_table(await service.status(), out)
    text = out.getvalue()
    assert "too few runs" in text and "spent, 66x over" in text and "3 runs in 1 minute" in text
    assert "checkout-success: 3 runs so far: too few to judge (paging needs 15 in the last hour)" in text
