"""Alert state: fire once, hold, re-notify, resolve once, survive restarts; min_runs; holds without data."""

from __future__ import annotations

from pathlib import Path

from agent.config.models import AgentConfig
from agent.daemon.slo_service import SloService
from agent.journey.model import Journey
from agent.slo.alerts import AlertBook, Notification, assess
from agent.slo.engine import SloEngine
from agent.slo.indicator import verdicts
from agent.store.sqlite import Store
from tests.test_slo_fixtures import NOW, FakeStore, run_result, slo_journey

CONFIG = AgentConfig.model_validate({"location": "tokyo-1", "server": {"public_url": "http://status.example"},
                                     "alerts": {"renotify": "1h", "evaluate_every": "30s"}})
JOURNEY = slo_journey("checkout", slos=[{"name": "checkout-success", "objective": "99%", "window": "30d",
                                         "owner": "Head of Product", "alerting": {"renotify": "10m"}}])
T = NOW - 3 * 3600  # the incident starts three hours ago; the history before it is clean


def kinds(notes: list[Notification]) -> list[tuple[str, str]]:
    return [(n.kind, n.severity) for n in notes if n.kind != "refresh"]


async def feed(store: Store | FakeStore, service: SloService | None, journey: Journey, at: float,
               passed: bool) -> None:
    result = run_result(journey.name, at, passed)
    await store.add(result, verdicts(journey, result))
    if service is not None:
        service.observe(result, journey)


async def history(store: Store | FakeStore, journey: Journey, start: float, minutes: int) -> None:
    for i in range(minutes):
        await feed(store, None, journey, start + i * 60 + 5, True)


async def test_fire_hold_renotify_restart_resolve(tmp_path: Path) -> None:
    path = tmp_path / "jp.db"
    store = await Store.open(path, flush_interval=0.05)
    await history(store, JOURNEY, T - 3 * 1440 * 60, 3 * 1440)
    await store.flush()
    notes: list[Notification] = []
    service = SloService(CONFIG, store, lambda: [JOURNEY], notes.append)
    await service.book.load()  # as start() does; the evaluations are driven by hand, at chosen times
    assert await service.evaluate(T - 30) == []

    minute = 0

    async def fail_until(last: int, passed: bool = False) -> None:
        nonlocal minute
        while minute <= last:
            await feed(store, service, JOURNEY, T + minute * 60 + 5, passed)
            minute += 1

    await fail_until(9)  # 10 failures: 1h error ratio 10/60 = 16.7% > 14.4 x 1%; 5m all failed
    fired = await service.evaluate(T + 9 * 60 + 30)
    assert kinds(fired) == [("firing", "page")]
    page = fired[0]
    assert page.summary.startswith("Checkout success is burning its error budget")
    assert "of the 30-day budget gone in the last hour" in page.summary
    assert (page.location, page.owner, page.status_page) == ("tokyo-1", "Head of Product", "http://status.example")

    await fail_until(10)
    held = await service.evaluate(T + 10 * 60 + 30)
    assert kinds(held) == [] and [n.kind for n in held] == ["refresh"]  # Alertmanager keeps it alive

    await fail_until(19)
    again = await service.evaluate(T + 19 * 60 + 40)  # 10 minutes after firing: the SLO's renotify
    assert kinds(again) == [("renotify", "page")]
    assert again[0].since == page.since

    await store.close()  # the agent restarts: a new store handle, a new service
    store = await Store.open(path, flush_interval=0.05)
    notes.clear()
    service = SloService(CONFIG, store, lambda: [JOURNEY], notes.append)
    await service.book.load()
    after_restart = await service.evaluate(T + 20 * 60)
    assert kinds(after_restart) == []  # neither fires again...
    assert service.book.state("checkout/checkout-success", "page").since == page.since  # ...nor forgets

    await fail_until(30, passed=True)  # the target recovers: the 5m window is clean
    resolved = await service.evaluate(T + 30 * 60 + 30)
    assert kinds(resolved) == [("resolved", "page")]
    assert resolved[0].ended_at == T + 30 * 60 + 30 and "no longer burning" in resolved[0].summary
    assert kinds(await service.evaluate(T + 31 * 60)) == []  # resolves once

    await store.close()
    store = await Store.open(path, flush_interval=0.05)
    service = SloService(CONFIG, store, lambda: [JOURNEY], notes.append)
    await service.book.load()
    assert kinds(await service.evaluate(T + 32 * 60)) == []
    states = await store.get_alert_states()
    assert states[("checkout/checkout-success", "page")]["state"] == "ok"
    await store.close()


async def book_and_engine(journey: Journey,
                          store: FakeStore) -> tuple[AlertBook, SloEngine, list[Notification]]:
    notes: list[Notification] = []
    engine = SloEngine(store, clock=lambda: NOW)
    engine.set_journeys([journey])
    return AlertBook(store, notes.append, default_renotify=3600), engine, notes


async def evaluate(book: AlertBook, engine: SloEngine, now: float) -> list[Notification]:
    await engine.sync(now)
    return await book.evaluate(engine.evaluate(now), now)


async def test_min_runs_keeps_a_thin_short_window_from_paging() -> None:
    results = {}
    for min_runs in (0, 10):
        journey = slo_journey("thin", slos=[{"name": "thin-success", "objective": "99%", "window": "30d",
                                             "owner": "Ops", "alerting": {"min_runs": min_runs}}])
        store = FakeStore()
        await history(store, journey, T - 3 * 1440 * 60, 3 * 1440 - 10)
        for i in range(10):
            await feed(store, None, journey, T - 10 * 60 + i * 60 + 5, False)
        book, engine, _ = await book_and_engine(journey, store)
        results[min_runs] = kinds(await evaluate(book, engine, T + 30))
    # 5 runs in 5m: with min_runs 10 the 1h/5m pair may not fire; 6h/30m burns 10/360 = 2.8% < 6%
    assert results == {0: [("firing", "page")], 10: []}


async def test_no_events_holds_a_firing_alert_instead_of_resolving() -> None:
    store = FakeStore()
    await history(store, JOURNEY, T - 3 * 1440 * 60, 3 * 1440 - 10)
    for i in range(10):
        await feed(store, None, JOURNEY, T - 10 * 60 + i * 60 + 5, False)
    book, engine, _ = await book_and_engine(JOURNEY, store)
    assert kinds(await evaluate(book, engine, T)) == [("firing", "page")]
    later = T + 8 * 3600  # the probe stopped: no events in any short window
    assert assess(engine.evaluate(later)[0], "page").decision is None
    notes = await evaluate(book, engine, later)
    assert [n.kind for n in notes] == ["refresh"]
    assert book.state("checkout/checkout-success", "page").state == "firing"


async def test_a_failed_state_write_is_retried_and_alerting_goes_on() -> None:
    store = FakeStore()
    await history(store, JOURNEY, T - 3 * 1440 * 60, 3 * 1440 - 10)
    for i in range(10):
        await feed(store, None, JOURNEY, T - 10 * 60 + i * 60 + 5, False)
    book, engine, _ = await book_and_engine(JOURNEY, store)
    store.fail_puts = 2  # the write and its retry at the end of the evaluation
    assert kinds(await evaluate(book, engine, T)) == [("firing", "page")]
    assert store.alerts == {}
    assert kinds(await evaluate(book, engine, T + 30)) == []
    assert store.alerts[("checkout/checkout-success", "page")]["state"] == "firing"


async def test_removing_the_slo_resolves_its_alert() -> None:
    store = FakeStore()
    await history(store, JOURNEY, T - 3 * 1440 * 60, 3 * 1440 - 10)
    for i in range(10):
        await feed(store, None, JOURNEY, T - 10 * 60 + i * 60 + 5, False)
    journeys: list[Journey] = [JOURNEY]
    notes: list[Notification] = []
    service = SloService(CONFIG, store, lambda: journeys, notes.append)  # type: ignore[arg-type]
    assert kinds(await service.evaluate(T)) == [("firing", "page")]
    journeys.clear()
    assert kinds(await service.evaluate(T + 30)) == [("resolved", "page")]
    assert "removed" in notes[-1].summary
    assert kinds(await service.evaluate(T + 60)) == []


async def test_ticket_on_a_slow_steady_burn() -> None:
    store = FakeStore()
    # 4% of runs fail for a day: 1d and 2h burn 4x > 3 (30d ticket); 1h 4x < 14.4, 6h 4x < 6
    for i in range(1440):
        await feed(store, None, JOURNEY, T - 1440 * 60 + i * 60 + 5, i % 25 != 0)
    book, engine, _ = await book_and_engine(JOURNEY, store)
    assert kinds(await evaluate(book, engine, T)) == [("firing", "ticket")]
