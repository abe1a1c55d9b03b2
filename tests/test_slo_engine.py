"""The SLO engine: windows from per-minute counts, history from the store, no double counting."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from agent.slo.engine import LOAD_BATCH, SloEngine, bucketed, slo_key
from agent.slo.indicator import verdicts
from agent.slo.windows import BURN_WINDOWS, minute_of
from agent.store.sqlite import Store
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


# -- 30-day windows from the tiered series, batched reads ----------------------------------------

WINDOW_30D = 30 * 1440


def history(seed: int, since: int, until: int) -> dict[int, tuple[int, int, int]]:
    """About one run a minute with a few failures and agent-side runs, some minutes empty."""
    rng = random.Random(seed)
    out = {}
    for m in range(since, until):
        if rng.random() < 0.9:
            total = rng.randint(1, 3)
            out[m] = (total - int(rng.random() < 0.05), total, int(rng.random() < 0.02))
    return out


def naive(counts: dict[int, tuple[int, int, int]], minutes: int, end: int) -> tuple[int, int, int]:
    rows = [counts[m] for m in range(end - minutes + 1, end + 1) if m in counts]
    return sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows)


async def history_stores(tmp_path: Path, journeys: dict[str, dict[int, tuple[int, int, int]]]
                         ) -> tuple[Store, FakeStore]:
    """The same minute counts (of each journey's one SLO) in a real store and a fake one."""
    path = tmp_path / "jp.db"
    await (await Store.open(path)).close()
    conn = sqlite3.connect(path)
    fake = FakeStore()
    with conn:
        for name, counts in journeys.items():
            conn.executemany("INSERT INTO minute_counts VALUES (?, ?, ?, ?, ?, ?)",
                             [(name, f"{name}-success", m, *c) for m, c in counts.items()])
            fake.counts.update({(name, f"{name}-success", m): list(c) for m, c in counts.items()})
    conn.close()
    return await Store.open(path, retention_s=float("inf")), fake


async def test_thirty_day_window_stays_exact_as_its_edge_moves(tmp_path: Path) -> None:
    head = minute_of(NOW) + 17  # the window's far edge falls inside an hour
    counts = history(7, head - WINDOW_30D - 300, head + 1)
    store, fake = await history_stores(tmp_path, {"checkout": counts})
    try:
        engines = []
        for target in (store, fake):
            engine = SloEngine(target, clock=lambda: NOW)
            engine.set_journeys([JOURNEYS["checkout"]])
            await engine.sync(head * 60 + 30)
            engines.append(engine)
        for step in range(0, 200, 7):  # three hours and more, no new runs: the edge moves on
            now = (head + step) * 60 + 30
            for engine in engines:
                await engine.sync(now)
                [report] = engine.evaluate(now)
                c = report.overall.counts
                assert (c.good, c.total, c.excluded) == naive(counts, WINDOW_30D, head + step), step
                for name, seconds in BURN_WINDOWS.items():
                    w = report.windows[name].counts
                    assert (w.good, w.total, w.excluded) == naive(counts, round(seconds / 60), head + step)
        assert engines[0].reads < engines[1].reads  # batched: one call for many SLOs and ranges
    finally:
        await store.close()


async def test_many_slos_load_in_few_reads_and_stepwise(tmp_path: Path) -> None:
    count = 2 * LOAD_BATCH + 10
    head = minute_of(NOW)
    histories = {f"j{i:03d}": history(i, head - 4 * 1440, head + 1) for i in range(count)}
    store, _ = await history_stores(tmp_path, histories)
    try:
        journeys = [slo_journey(name) for name in histories]
        engine = SloEngine(store, clock=lambda: NOW)
        engine.set_journeys(journeys)
        await engine.sync(NOW, load_budget_s=0.0)  # the budget is checked between batches
        assert engine.pending_loads == count - LOAD_BATCH and engine.reads == 1
        reports = {r.key: r for r in engine.evaluate(NOW)}
        assert sum(r.loaded for r in reports.values()) == LOAD_BATCH
        await engine.sync(NOW)
        assert engine.pending_loads == 0 and engine.reads == 3
        for report in engine.evaluate(NOW):
            c = report.overall.counts
            assert (c.good, c.total, c.excluded) == naive(histories[report.journey], WINDOW_30D, head)
    finally:
        await store.close()


async def test_days_without_a_sync_reload_the_history() -> None:
    store = FakeStore()
    head = minute_of(NOW)
    counts = history(3, head - 10 * 1440, head + 6 * 1440)
    engine = SloEngine(store, clock=lambda: NOW)
    engine.set_journeys([JOURNEYS["checkout"]])
    store.counts.update({("checkout", "checkout-success", m): list(c) for m, c in counts.items() if m <= head})
    await engine.sync(NOW)
    store.counts.update({("checkout", "checkout-success", m): list(c) for m, c in counts.items()})
    later = NOW + 5 * DAY  # e.g. the machine slept: the minutes since then come from the store again
    await engine.sync(later)
    [report] = engine.evaluate(later)
    c = report.overall.counts
    assert report.loaded and (c.good, c.total, c.excluded) == naive(counts, WINDOW_30D, head + 5 * 1440)


async def test_batched_reads_equal_single_ones(tmp_path: Path) -> None:
    head = minute_of(NOW)
    hour = (head - 500) // 60 * 60
    big = {hour + 61: (2**20 + 5, 2**20 + 9, 3), hour + 62: (1, 1, 0)}  # large hourly sums
    store, fake = await history_stores(tmp_path, {"checkout": history(5, head - 500, head + 1), "big": big})
    try:
        requests = [("checkout", "checkout-success", head - 500 + d, head - d, size)
                    for d, size in ((0, 1), (3, 60), (60, 7), (250, 1), (0, 1000))]
        requests += [("checkout", "checkout-success", hour, head - 7, 60), ("big", "big-success", hour, head, 60),
                     ("nope", "checkout-success", hour, head, 60)]
        want = [bucketed(await fake.minute_counts(s, j, a, b), a, n) for j, s, a, b, n in requests]
        assert await store.minute_counts_many(requests) == want
        assert await SloEngine(fake).read(requests) == want
    finally:
        await store.close()
