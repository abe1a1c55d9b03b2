"""SLO arithmetic and the prefix-sum minute series: tables and hypothesis properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent.slo.engine import bucketed
from agent.slo.math import (
    alert_pairs,
    burn_rate,
    error_budget_remaining,
    failures_to_fire,
    single_failure_burn,
    sli,
)
from agent.slo.windows import BURN_WINDOWS, FINE_MINUTES, Counts, MinuteSeries, TieredSeries, minutes_of

DAY = 86400.0


@pytest.mark.parametrize(("good", "total", "objective", "want_sli", "want_budget", "want_burn"), [
    pytest.param(1000, 1000, 0.999, 1.0, 1.0, 0.0, id="all-good"),
    pytest.param(999, 1000, 0.999, 0.999, 0.0, 1.0, id="exactly-on-budget"),
    pytest.param(9995, 10000, 0.999, 0.9995, 0.5, 0.5, id="half-budget-spent"),
    pytest.param(990, 1000, 0.999, 0.99, -9.0, 10.0, id="overspent-goes-negative"),
    pytest.param(0, 10, 0.99, 0.0, -99.0, 100.0, id="all-bad"),
    pytest.param(199, 200, 0.995, 0.995, 0.0, 1.0, id="99.5-on-budget"),
    pytest.param(0, 0, 0.999, None, None, None, id="no-events-no-sli"),
])
def test_sli_budget_burn_table(good: int, total: int, objective: float, want_sli: float | None,
                               want_budget: float | None, want_burn: float | None) -> None:
    value = sli(good, total)
    budget = error_budget_remaining(value, objective)
    burn = burn_rate(value, objective)
    if want_sli is None:
        assert (value, budget, burn) == (None, None, None)
        return
    assert value == pytest.approx(want_sli)
    assert budget == pytest.approx(want_budget, abs=1e-9)
    assert burn == pytest.approx(want_burn, abs=1e-9)


@pytest.mark.parametrize(("window", "want"), [
    pytest.param(30 * DAY, {("page", "1h"): 14.4, ("page", "6h"): 6.0, ("ticket", "1d"): 3.0,
                            ("ticket", "3d"): 1.0}, id="30d"),
    pytest.param(28 * DAY, {("page", "1h"): 13.44, ("page", "6h"): 5.6, ("ticket", "1d"): 2.8,
                            ("ticket", "3d"): 0.9333}, id="28d"),
    pytest.param(7 * DAY, {("page", "1h"): 3.36, ("page", "6h"): 1.4, ("ticket", "1d"): 0.7,
                           ("ticket", "3d"): 0.2333}, id="7d"),
    pytest.param(2 * DAY, {("page", "1h"): 0.96, ("page", "6h"): 0.4, ("ticket", "1d"): 0.2},
                 id="2d-no-3d-pair"),
])
def test_alert_thresholds_scale_with_the_window(window: float, want: dict[tuple[str, str], float]) -> None:
    pairs = alert_pairs(window)
    got = {(p.severity, p.long): p.threshold for p in pairs}
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-3), key
    assert [(p.long, p.short) for p in pairs][:2] == [("1h", "5m"), ("6h", "30m")]


def test_single_failure_burn_of_the_brief() -> None:
    # one run a minute, one failure in an hour, 99.9%: 16.7x, above 14.4 (30d) and 13.44 (28d)
    assert single_failure_burn(60, 3600, 0.999) == pytest.approx(16.67, abs=0.01)
    page_1h = alert_pairs(28 * DAY)[0]
    assert failures_to_fire(page_1h, 60, 0.999) == 1
    assert failures_to_fire(page_1h, 10, 0.99) == 49


# -- properties ----------------------------------------------------------------------------

objectives = st.sampled_from([0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999]) | st.floats(0.5, 0.99999)


@given(total=st.integers(1, 10**7), bad=st.integers(0, 10**7), more=st.integers(1, 1000),
       objective=objectives)
def test_budget_falls_as_failures_rise(total: int, bad: int, more: int, objective: float) -> None:
    assume(bad + more <= total)
    before = error_budget_remaining(sli(total - bad, total), objective)
    after = error_budget_remaining(sli(total - bad - more, total), objective)
    assert before is not None and after is not None
    assert after < before
    burn_before = burn_rate(sli(total - bad, total), objective)
    burn_after = burn_rate(sli(total - bad - more, total), objective)
    assert burn_before is not None and burn_after is not None and burn_after > burn_before


@given(total=st.integers(2, 10**7), data=st.data())
def test_burn_is_exactly_one_when_the_error_ratio_equals_the_budget(total: int, data: st.DataObject) -> None:
    good = data.draw(st.integers(1, total - 1))
    objective = good / total  # the objective this SLI exactly meets
    assert burn_rate(sli(good, total), objective) == 1.0
    assert error_budget_remaining(sli(good, total), objective) == 0.0


@given(objective=objectives)
def test_no_events_means_no_sli_not_100_percent(objective: float) -> None:
    assert sli(0, 0) is None
    assert burn_rate(None, objective) is None
    assert error_budget_remaining(None, objective) is None


Op = tuple[str, int, tuple[int, int, int]]


@st.composite
def operations(draw: st.DrawFn) -> tuple[int, list[Op]]:
    capacity = draw(st.integers(3, 40))
    ops = draw(st.lists(st.tuples(
        st.sampled_from(["add", "add", "advance", "assign"]),
        st.integers(-45, 8),
        st.tuples(st.integers(0, 5), st.integers(0, 9), st.integers(0, 3))), max_size=80))
    return capacity, ops


@settings(max_examples=300, deadline=None)
@given(case=operations())
def test_prefix_sum_windows_equal_naive_sums(case: tuple[int, list[Op]]) -> None:
    capacity, ops = case
    start = 10_000
    series = MinuteSeries(capacity, start)
    naive: dict[int, tuple[int, int, int]] = {}
    for op, offset, (g, t, x) in ops:
        if op == "advance":
            series.advance(series.head + max(0, offset) * (7 if offset > 6 else 1))
        elif op == "add":
            minute = series.head + offset
            if series.add(minute, g, t, x):
                old = naive.get(minute, (0, 0, 0))
                naive[minute] = (old[0] + g, old[1] + t, old[2] + x)
        else:
            end = series.head + min(offset, 0)
            begin = end - g
            values = {m: (g, t, x) for m in range(begin, end + 1) if (m + t) % 2}
            series.assign(begin, end, values)
            for m in range(max(begin, series.oldest), end + 1):
                naive[m] = values.get(m, (0, 0, 0))
        for size in range(1, capacity):
            got = series.window(size)
            want = [sum(naive.get(m, (0, 0, 0))[k] for m in range(series.head - size + 1, series.head + 1))
                    for k in range(3)]
            assert (got.good, got.total, got.excluded) == tuple(want), (size, op)
    rows = [(m, *naive[m]) for m in sorted(naive) if m >= series.oldest]
    rebuilt = MinuteSeries.from_rows(capacity, series.head, rows)
    for size in range(1, capacity):
        assert rebuilt.window(size) == series.window(size)


def test_window_minutes() -> None:
    assert minutes_of(28 * DAY) == 40320
    assert minutes_of(300) == 5
    assert minutes_of(1) == 1


# -- the tiered series against a naive sum over 30 days of minutes ---------------------------

WINDOWS = [30 * 1440, 28 * 1440, 4 * 1440 + 17, 2 * 1440]  # in minutes; 2d fits the minute tier


class NaiveStore:
    """Per-minute counts in dense lists from `base`, read the way the engine reads the store."""

    def __init__(self, base: int, size: int) -> None:
        self.base = base
        self.counts = [[0] * size for _ in range(3)]

    def put(self, minute: int, g: int, t: int, x: int) -> None:
        for k, v in enumerate((g, t, x)):
            self.counts[k][minute - self.base] += v

    def rows(self, since: int, until: int) -> list[tuple[int, int, int, int]]:
        g, t, x = self.counts
        return [(m, g[i], t[i], x[i]) for m in range(since, until)
                if (i := m - self.base) >= 0 and (g[i] or t[i] or x[i])]

    def read(self, since: int, until: int, size: int) -> list[tuple[int, int, int, int]]:
        return bucketed(self.rows(since, until), since, size)

    def window(self, minutes: int, end: int) -> Counts:
        a, b = end - minutes + 1 - self.base, end + 1 - self.base
        return Counts(*(sum(c[max(0, a):b]) for c in self.counts))


def random_history(rng: random.Random, store: NaiveStore, since: int, until: int, density: float) -> None:
    for minute in range(since, until):
        if rng.random() < density:
            total = rng.randint(1, 4)
            store.put(minute, rng.randint(0, total), total, int(rng.random() < 0.1))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), offset=st.integers(0, 59), density=st.sampled_from([1.0, 0.5, 0.05]),
       steps=st.lists(st.tuples(st.sampled_from([0, 1, 2, 7, 59, 60, 61, 150, 1000, 4300]), st.booleans()),
                      max_size=10))
def test_tiered_windows_equal_naive_sums(seed: int, offset: int, density: float,
                                         steps: list[tuple[int, bool]]) -> None:
    rng = random.Random(seed)
    head = 29_000_000 + offset  # unix minutes, ~2025
    store = NaiveStore(head - 31 * 1440, 31 * 1440 + 10 * 4300 + 10)
    random_history(rng, store, store.base, head + 1, density)
    everything = []  # (series, whether its edge buffer is kept filled)
    for window in WINDOWS:
        for edge in (True, False):
            series = TieredSeries(window, head)
            ranges = series.load_ranges()
            if not edge:  # without the edge buffer: the SLO window is off by at most the edge hour's counts
                ranges = ranges[:2]
            series.load([store.read(*r) for r in ranges])
            check_windows(series, store, exact=edge)
            everything.append((series, edge))
    for delta, observe in steps:
        settled = head
        head += delta
        random_history(rng, store, settled + 1, head + 1, density)
        news = []
        if observe:  # runs counted as they finish, in the newest minute
            news = [rng.randint(0, 2), rng.randint(2, 3), rng.randint(0, 1)]
            store.put(head, *news)
        # the engine's settle: minutes from a few before the last settled one, exact from the store
        counts = {m: (g, t, x) for m, g, t, x in store.rows(settled - 4, head + 1)}
        for series, edge in everything:
            if news:
                assert series.add(head, *news)
            series.assign(settled - 4, head, counts)
            if edge and (wanted := series.edge_wanted()) is not None:
                series.set_edge(*wanted, store.rows(*wanted))
            check_windows(series, store, exact=edge)


def check_windows(series: TieredSeries, store: NaiveStore, *, exact: bool) -> None:
    head = series.head
    assert series.boundary <= head - FINE_MINUTES + 60
    for seconds in BURN_WINDOWS.values():
        minutes = minutes_of(seconds)
        assert series.window(minutes) == store.window(minutes, head), (seconds, head)
    got, want = series.window(series.window_minutes), store.window(series.window_minutes, head)
    if exact or series.window_minutes <= FINE_MINUTES - 60:
        assert got == want
    else:
        first = head - series.window_minutes + 1
        hour = store.window(60, first // 60 * 60 + 59)  # the hour the window starts in
        for g, w, h in ((got.good, want.good, hour.good), (got.total, want.total, hour.total),
                        (got.excluded, want.excluded, hour.excluded)):
            assert abs(g - w) <= h


def test_tiered_series_is_small() -> None:
    series = TieredSeries(30 * 1440, 29_000_000)
    series.set_edge(*(series.edge_wanted() or (0, 0)), [])
    assert series.nbytes < 64 * 1024  # 1,000 30-day SLOs: < 62 MiB, against 494 MiB of minutes
