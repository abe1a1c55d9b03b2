"""The SLO engine: windows from per-minute counts, history from the store, no double counting."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.slo.engine import SloEngine, slo_key
from agent.slo.indicator import verdicts
from agent.store import Store
from tests.test_slo_fixtures import DAY, NOW, FakeStore, run_result, slo_journey


async def feed(engine: SloEngine, store: FakeStore | Store, journey_name: str, at: float, passed: bool,
               **kw: object) -> None:
    """As the daemon does: into the store, then to the engine."""
    journey = JOURNEYS[journey_name]
    result = run_result(journey_name, at, passed, **kw)  # type: ignore[arg-type]
    await store.add(result, verdicts(journey, result))
    engine.observe(result, journey)


JOURNEYS = {"checkout": slo_journey("checkout"),
            "fast": slo_journey("fast", slos=[{"name": "fast-2s", "indicator": {"latency": "2s"},
                                               "objective": "99%", "window": "28d", "owner": "CTO"}])}


async def test_no_events_means_no_sli_and_no_burn() -> None:
    engine = SloEngine(FakeStore(), clock=lambda: NOW)
    engine.set_journeys([JOURNEYS["checkout"]])
    await engine.sync(NOW)
    [report] = engine.evaluate(NOW)
    assert report.loaded and report.sli is None and report.budget_remaining is None
    assert all(w.sli is None and w.burn_rate is None for w in report.windows.values())


async def test_history_is_loaded_and_windowed() -> None:
    store = FakeStore()
    # three days, one run a minute; the last 30 minutes fail every other run
    for i in range(3 * 1440):
        at = NOW - (3 * 1440 - 1 - i) * 60
        await store.add(run_result("checkout", at, passed=not (i >= 3 * 1440 - 30 and i % 2)),
                        {"checkout-success": not (i >= 3 * 1440 - 30 and i % 2)})
    engine = SloEngine(store, clock=lambda: NOW)
    engine.set_journeys([JOURNEYS["checkout"]])
    await engine.sync(NOW)
    [report] = engine.evaluate(NOW + 30)
    w = report.windows
    assert (w["5m"].counts.total, w["5m"].counts.good) == (5, 2)  # minutes 4315..4319: 4315, 4317, 4319 fail
    assert w["30m"].counts.total == 30 and w["30m"].counts.good == 15
    assert w["1h"].counts.total == 60 and w["1h"].counts.good == 45
    assert w["1h"].burn_rate == pytest.approx((15 / 60) / 0.01)
    assert w["3d"].counts.total == 4320
    assert report.events == 4320 and report.sli == pytest.approx(1 - 15 / 4320)
    assert report.budget_remaining == pytest.approx(1 - (15 / 4320) / 0.01)


async def test_observed_runs_count_at_once_and_settling_never_double_counts() -> None:
    store = FakeStore()
    clock = [NOW]
    engine = SloEngine(store, clock=lambda: clock[0])
    engine.set_journeys(JOURNEYS.values())
    await engine.sync()
    for i in range(30):  # 30 minutes of runs, one a minute, every third one fails
        at = NOW + i * 60
        clock[0] = at + 1
        await feed(engine, store, "checkout", at, passed=i % 3 != 0)
        await engine.sync()
        report = engine.report(slo_key("checkout", "checkout-success"))
        assert report is not None and report.windows["1h"].counts.total == i + 1, i
    clock[0] = NOW + 3 * 3600  # everything settles and is read back from the store
    await engine.sync()
    report = engine.report(slo_key("checkout", "checkout-success"), NOW + 30 * 60)
    assert report is not None
    assert (report.windows["1h"].counts.total, report.windows["1h"].counts.good) == (30, 20)
    assert (report.events, report.overall.counts.good) == (30, 20)


async def test_a_run_observed_before_the_history_load_is_not_lost_nor_doubled() -> None:
    store = FakeStore()
    engine = SloEngine(store, clock=lambda: NOW)
    engine.set_journeys([JOURNEYS["checkout"]])
    await feed(engine, store, "checkout", NOW - 10, passed=False)  # tracker not loaded yet: ignored...
    await engine.sync(NOW)  # ...and brought in by the load
    await feed(engine, store, "checkout", NOW + 5, passed=True)  # after the load: observed
    [report] = engine.evaluate(NOW + 10)
    assert (report.windows["5m"].counts.total, report.windows["5m"].counts.good) == (2, 1)
    await engine.sync(NOW + 600)
    [report] = engine.evaluate(NOW + 10)
    assert (report.windows["5m"].counts.total, report.windows["5m"].counts.good) == (2, 1)


async def test_agent_side_failures_are_counted_apart() -> None:
    store = FakeStore()
    engine = SloEngine(store, clock=lambda: NOW)
    engine.set_journeys([JOURNEYS["checkout"]])
    await engine.sync(NOW)
    for i in range(10):
        await feed(engine, store, "checkout", NOW + i, passed=True)
    for i in range(5):
        await feed(engine, store, "checkout", NOW + 20 + i, passed=False, agent_side=True)
    [report] = engine.evaluate(NOW + 30)
    assert report.sli == 1.0 and report.events == 10 and report.excluded == 5
    assert report.windows["5m"].counts.excluded == 5 and report.windows["5m"].burn_rate == 0.0


async def test_latency_indicator_counts_slow_passing_runs_as_bad() -> None:
    store = FakeStore()
    engine = SloEngine(store, clock=lambda: NOW)
    engine.set_journeys([JOURNEYS["fast"]])
    await engine.sync(NOW)
    await feed(engine, store, "fast", NOW, passed=True, duration=1.5)
    await feed(engine, store, "fast", NOW + 1, passed=True, duration=2.5)
    await feed(engine, store, "fast", NOW + 2, passed=False, duration=0.1)
    [report] = engine.evaluate(NOW + 5)
    assert (report.events, report.overall.counts.good) == (3, 1)


async def test_reload_keeps_history_unless_the_window_changes() -> None:
    store = FakeStore()
    engine = SloEngine(store, clock=lambda: NOW)
    engine.set_journeys([JOURNEYS["checkout"]])
    await engine.sync(NOW)
    await feed(engine, store, "checkout", NOW, passed=False)
    stricter = slo_journey("checkout", slos=[{"name": "checkout-success", "objective": "99.9%",
                                              "window": "30d", "owner": "CFO"}])
    assert engine.set_journeys([stricter]) == ([], [])
    [report] = engine.evaluate(NOW + 1)
    assert report.loaded and report.events == 1 and report.slo.owner == "CFO"
    assert report.windows["5m"].burn_rate == pytest.approx(1000)
    shorter = slo_journey("checkout", slos=[{"name": "checkout-success", "objective": "99.9%",
                                             "window": "7d", "owner": "CFO"}])
    engine.set_journeys([shorter])
    assert engine.pending_loads == 1
    await engine.sync(NOW + 1)
    [report] = engine.evaluate(NOW + 1)
    assert report.loaded and report.events == 1  # from the store this time
    assert engine.set_journeys([]) == ([], ["checkout/checkout-success"])


async def test_same_numbers_from_the_real_store(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db", flush_interval=0.05)
    fake = FakeStore()
    try:
        for i in range(2 * 1440):
            at = NOW - i * 60 - 7
            for target in (store, fake):
                result = run_result("checkout", at, passed=i % 50 != 0, agent_side=i % 700 == 1)
                await target.add(result, verdicts(JOURNEYS["checkout"], result))
        await store.flush()
        reports = []
        for target in (store, fake):
            engine = SloEngine(target, clock=lambda: NOW)
            engine.set_journeys([JOURNEYS["checkout"]])
            await engine.sync(NOW)
            reports.append(engine.evaluate(NOW))
        [real], [mem] = reports
        assert real.windows == mem.windows and real.overall == mem.overall
        assert real.excluded == 5 and real.events == 2 * 1440 - 5
    finally:
        await store.close()


async def test_evaluation_is_fast_for_many_slos() -> None:
    journeys = [slo_journey(f"j{i}") for i in range(200)]
    engine = SloEngine(FakeStore(), clock=lambda: NOW)
    engine.set_journeys(journeys)
    await engine.sync(NOW)
    started = time.perf_counter()
    reports = engine.evaluate(NOW + 60)
    assert len(reports) == 200
    assert time.perf_counter() - started < 1.0
    assert DAY  # the 30-day windows above hold 43,200 minutes each
