"""The SLO engine: per-minute counts per SLO in memory, windows by prefix sums, reports.

Counts come from two places. `observe` adds a finished run at once, so the status is fresh;
`sync` then makes each minute exact from the store once the minute is *settled* (every run
started in it has finished and been committed), and loads an SLO's history the first time.
Setting a settled minute to the store's count is idempotent, so nothing is ever counted
twice, however the two paths interleave.

Reads are batched: a store with `minute_counts_many` (`agent.store.sqlite.Store`) answers the reads
of many SLOs in one call; any other `CountsStore` is asked SLO by SLO.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agent.core.clock import Clock, system_clock
from agent.journey.model import Journey, Slo
from agent.probe.result import RunResult
from agent.slo.indicator import is_good
from agent.slo.math import burn_rate, error_budget_remaining, sli
from agent.slo.windows import BURN_WINDOWS, Counts, Row, TieredSeries, minute_of, minutes_of

REASSIGN_MINUTES = 5  # settled minutes read again on each sync, in case the store lagged
LOAD_BATCH = 50  # SLOs whose history one store call reads (the load budget is checked between)

Request = tuple[str, str, int, int, int]
"""(journey, slo, since_minute, until_minute, bucket_minutes) of one read."""


class CountsStore(Protocol):
    """The part of `agent.store.sqlite.Store` the engine needs."""

    async def minute_counts(self, slo: str, journey: str, since_minute: int,
                            until_minute: int) -> list[tuple[int, int, int, int]]: ...


class BatchCountsStore(CountsStore, Protocol):
    """A store that also answers many reads at once (`agent.store.sqlite.Store`)."""

    async def minute_counts_many(self, requests: Sequence[Request]) -> list[list[Row]]: ...


def bucketed(rows: Iterable[Row], since: int, size: int) -> list[Row]:
    """Per-minute rows summed per bucket of `size` minutes from `since` (keyed by its first minute)."""
    if size == 1:
        return list(rows)
    sums: dict[int, list[int]] = {}
    for minute, g, t, x in rows:
        c = sums.setdefault(since + (minute - since) // size * size, [0, 0, 0])
        c[0] += g
        c[1] += t
        c[2] += x
    return [(b, c[0], c[1], c[2]) for b, c in sorted(sums.items())]


def slo_key(journey: str, slo: str) -> str:
    """A name for an SLO unique in one agent (SLO names are unique per journey only)."""
    return f"{journey}/{slo}"


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One window's events, SLI and burn rate (None without events)."""

    name: str
    seconds: float
    counts: Counts
    sli: float | None
    burn_rate: float | None


@dataclass(frozen=True, slots=True)
class SloReport:
    """An SLO's state at one instant."""

    key: str
    journey: str
    slo: Slo
    evaluated_at: float
    loaded: bool
    overall: WindowStats  # over the SLO's own window
    windows: dict[str, WindowStats] = field(default_factory=dict)  # BURN_WINDOWS
    budget_remaining: float | None = None
    interval_s: float = 60.0  # the journey's run interval
    data_since: float | None = None  # start of the first minute with runs, within the SLO window
    young: bool = False  # the data starts after the SLO window does: the numbers cover `data_s` only

    @property
    def data_s(self) -> float:
        """Seconds of data the SLO window holds: the whole window, or from its first run to now."""
        if self.data_since is None:
            return 0.0
        if not self.young:
            return self.slo.window
        return min(self.slo.window, max(60.0, self.evaluated_at - self.data_since))

    @property
    def sli(self) -> float | None:
        return self.overall.sli

    @property
    def events(self) -> int:
        return self.overall.counts.total

    @property
    def excluded(self) -> int:
        return self.overall.counts.excluded


def _stats(name: str, seconds: float, counts: Counts, objective: float) -> WindowStats:
    value = sli(counts.good, counts.total)
    return WindowStats(name, seconds, counts, value, burn_rate(value, objective))


class SloTracker:
    """The in-memory counts of one SLO of one journey."""

    def __init__(self, journey: Journey, slo: Slo, commit_margin_s: float) -> None:
        self.key = slo_key(journey.name, slo.name)
        self.journey_name = journey.name
        self.slo = slo
        self.window_minutes = max(minutes_of(slo.window), max(minutes_of(s) for s in BURN_WINDOWS.values()))
        self.series: TieredSeries | None = None
        self.settled = 0  # minutes up to here hold the store's committed counts
        self.commit_margin_s = commit_margin_s
        self.run_span_s = 0.0
        self.interval_s = journey.interval
        self.first_minute: int | None = None  # the oldest minute with runs seen (store or observed)
        self.update(journey, slo)

    def update(self, journey: Journey, slo: Slo) -> None:
        """Take a changed definition that keeps the same window (objective, owner, timing)."""
        self.slo = slo
        self.run_span_s = journey.retry.attempts * (journey.timeout + journey.retry.delay)
        self.interval_s = journey.interval

    def saw(self, rows: Iterable[Row]) -> None:
        """Note the oldest minute with runs among store rows (hourly rows are keyed by their first minute)."""
        first = min((m for m, _, t, x in rows if t or x), default=None)
        if first is not None and (self.first_minute is None or first < self.first_minute):
            self.first_minute = first

    @property
    def loaded(self) -> bool:
        return self.series is not None

    def settled_until(self, now: float) -> int:
        """The newest minute whose runs have all finished and been committed by `now`."""
        return minute_of(now - self.run_span_s - self.commit_margin_s) - 1

    def observe(self, minute: int, verdict: bool | None) -> None:
        if self.series is None:
            return  # the history load will bring it from the store
        if self.first_minute is None or minute < self.first_minute:
            self.first_minute = minute
        if verdict is None:
            self.series.add(minute, 0, 0, 1)
        else:
            self.series.add(minute, int(verdict), 1, 0)

    def report(self, now: float) -> SloReport:
        objective = self.slo.objective
        if self.series is None:
            empty = _stats("slo", self.slo.window, Counts(), objective)
            return SloReport(self.key, self.journey_name, self.slo, now, False, empty,
                             {n: _stats(n, s, Counts(), objective) for n, s in BURN_WINDOWS.items()},
                             interval_s=self.interval_s)
        head = minute_of(now)
        series = self.series
        series.advance(head)
        overall = _stats("slo", self.slo.window, series.window(minutes_of(self.slo.window), head), objective)
        windows = {name: _stats(name, seconds, series.window(minutes_of(seconds), head), objective)
                   for name, seconds in BURN_WINDOWS.items()}
        since, young = None, False
        if self.first_minute is not None:
            start = head - minutes_of(self.slo.window) + 1
            since, young = 60.0 * max(self.first_minute, start), self.first_minute > start
        return SloReport(self.key, self.journey_name, self.slo, now, True, overall, windows,
                         error_budget_remaining(overall.sli, objective), self.interval_s, since, young)


class SloEngine:
    """Every SLO of the agent's journeys: history from the store, fresh runs by `observe`."""

    def __init__(self, store: CountsStore, *, clock: Clock = system_clock,
                 commit_margin_s: float | None = None) -> None:
        self.store = store
        self.clock = clock
        flush = float(getattr(store, "flush_interval", 0.5) or 0.5)
        self.commit_margin_s = commit_margin_s if commit_margin_s is not None else flush + 5.0
        self.trackers: dict[str, SloTracker] = {}
        self._by_journey: dict[str, list[SloTracker]] = {}
        self.reads = 0  # store reads so far (history loads and settled-minute syncs)

    def now(self) -> float:
        return float(self.clock())

    def set_journeys(self, journeys: Iterable[Journey]) -> tuple[list[str], list[str]]:
        """Track the SLOs of these journeys; returns the keys (added, removed).

        An SLO whose window changed starts over (its history is loaded again); any other
        change is taken in place.
        """
        wanted: dict[str, tuple[Journey, Slo]] = {}
        for journey in journeys:
            for slo in journey.slos:
                wanted[slo_key(journey.name, slo.name)] = (journey, slo)
        added, removed = [], []
        for key in list(self.trackers):
            if key not in wanted:
                del self.trackers[key]
                removed.append(key)
        for key, (journey, slo) in wanted.items():
            tracker = self.trackers.get(key)
            if tracker is not None and tracker.slo.window == slo.window:
                tracker.update(journey, slo)
                continue
            self.trackers[key] = SloTracker(journey, slo, self.commit_margin_s)
            if tracker is None:
                added.append(key)
        self._by_journey = {}
        for tracker in self.trackers.values():
            self._by_journey.setdefault(tracker.journey_name, []).append(tracker)
        return added, removed

    def observe(self, result: RunResult, journey: Journey) -> None:
        """Count a finished run in each SLO of its journey (cheap; never touches the store)."""
        trackers = self._by_journey.get(journey.name)
        if not trackers:
            return
        minute = minute_of(result.started_at.timestamp())
        for tracker in trackers:
            tracker.observe(minute, is_good(tracker.slo, result))

    @property
    def pending_loads(self) -> int:
        return sum(1 for t in self.trackers.values() if not t.loaded)

    async def sync(self, now: float | None = None, *, load_budget_s: float | None = None) -> None:
        """Load the history of new SLOs and make newly settled minutes exact from the store.

        With `load_budget_s`, history loads stop after that long (checked after every batch of
        LOAD_BATCH SLOs, so one batch always loads); the rest load next time and show as not
        loaded (`loading: true`, no alerts) meanwhile.
        """
        now = self.now() if now is None else now
        started = time.monotonic()
        flush = getattr(self.store, "flush", None)
        loaded = [t for t in self.trackers.values() if t.series is not None]
        if flush is not None and any(t.settled_until(now) > t.settled for t in loaded):
            await flush()  # what is still queued for the store belongs in the minutes about to settle
        await self._settle(loaded, now)
        await self._read_edges([t for t in loaded if t.series is not None], now)
        pending = [t for t in self.trackers.values() if t.series is None]
        batches = [pending[i:i + LOAD_BATCH] for i in range(0, len(pending), LOAD_BATCH)]
        if not batches:
            return
        plans, requests = self._plan(batches[0], now)
        reading = asyncio.ensure_future(self.read(requests))
        try:
            for k in range(len(batches)):
                results = await reading
                over = load_budget_s is not None and time.monotonic() - started > load_budget_s
                more = k + 1 < len(batches) and not over  # at least one batch loads at each sync
                if more:  # the store reads the next batch while this one is built
                    next_plans, requests = self._plan(batches[k + 1], now)
                    reading = asyncio.ensure_future(self.read(requests))
                self._take(plans, results, now)
                if not more:
                    break
                plans = next_plans
        finally:
            reading.cancel()

    async def read(self, requests: Sequence[Request]) -> list[list[Row]]:
        """The rows of each request, in one store call if the store can, else one per request."""
        if not requests:
            return []
        many = getattr(self.store, "minute_counts_many", None)
        if many is not None:
            self.reads += 1
            return list(await many(requests))
        out = []
        for journey, slo, since, until, size in requests:
            rows = await self.store.minute_counts(slo, journey, since, until)
            self.reads += 1
            out.append(bucketed(rows, since, size))
        return out

    def _current(self, tracker: SloTracker) -> bool:
        return tracker.series is not None and self.trackers.get(tracker.key) is tracker

    def _plan(self, trackers: Sequence[SloTracker], now: float) -> tuple[list[tuple[SloTracker, TieredSeries,
                                                                                 int, int]], list[Request]]:
        """Empty series for these trackers and the store reads that fill them."""
        head = minute_of(now)
        plans = []
        requests: list[Request] = []
        for tracker in trackers:
            series = TieredSeries(minutes_of(tracker.slo.window), head)
            ranges = series.load_ranges()
            plans.append((tracker, series, len(requests), len(requests) + len(ranges)))
            requests += [(tracker.journey_name, tracker.slo.name, *r) for r in ranges]
        return plans, requests

    def _take(self, plans: Sequence[tuple[SloTracker, TieredSeries, int, int]], results: Sequence[list[Row]],
              now: float) -> None:
        for tracker, series, a, b in plans:
            if self.trackers.get(tracker.key) is not tracker or tracker.series is not None:
                continue  # replaced or removed meanwhile
            series.load(results[a:b])
            for rows in results[a:b]:
                tracker.saw(rows)
            tracker.series = series
            tracker.settled = tracker.settled_until(now)

    async def _settle(self, trackers: Sequence[SloTracker], now: float) -> None:
        head = minute_of(now)
        due = []
        for tracker in trackers:
            settled = tracker.settled_until(now)
            if settled <= tracker.settled:
                continue
            start = tracker.settled - REASSIGN_MINUTES + 1
            assert tracker.series is not None
            tracker.series.advance(head)
            if start < tracker.series.boundary:
                tracker.series = None  # days without a sync: whole hours need the store; load again
                continue
            due.append((tracker, start, settled))
        results = await self.read([(t.journey_name, t.slo.name, start, settled + 1, 1)
                                   for t, start, settled in due])
        for (tracker, start, settled), rows in zip(due, results, strict=True):
            if not self._current(tracker):
                continue
            assert tracker.series is not None
            tracker.series.assign(start, settled, {m: (g, t, x) for m, g, t, x in rows})
            tracker.saw(rows)
            tracker.settled = settled

    async def _read_edges(self, trackers: Sequence[SloTracker], now: float) -> None:
        """Read the minutes at the far edge of SLO windows that moved on to a new hour."""
        head = minute_of(now)
        due = []
        for tracker in trackers:
            assert tracker.series is not None
            tracker.series.advance(head)
            wanted = tracker.series.edge_wanted()
            if wanted is not None:
                due.append((tracker, tracker.series, wanted))
        results = await self.read([(t.journey_name, t.slo.name, *wanted, 1) for t, _, wanted in due])
        for (tracker, series, wanted), rows in zip(due, results, strict=True):
            if self._current(tracker) and tracker.series is series:
                series.set_edge(*wanted, rows)

    def evaluate(self, now: float | None = None) -> list[SloReport]:
        """Every SLO's report at `now`: pure arithmetic on the in-memory counts."""
        now = self.now() if now is None else now
        return [tracker.report(now) for tracker in self.trackers.values()]

    async def evaluate_in_slices(self, now: float | None = None, slice_size: int = 100) -> list[SloReport]:
        """`evaluate`, handing the event loop back every `slice_size` SLOs, so that 1,000 SLOs
        never stop the runs' scheduling for their whole ~40 ms (docs/benchmarks.md, F9)."""
        now = self.now() if now is None else now
        reports: list[SloReport] = []
        for index, tracker in enumerate(list(self.trackers.values()), start=1):
            reports.append(tracker.report(now))
            if index % slice_size == 0:
                await asyncio.sleep(0)
        return reports

    def report(self, key: str, now: float | None = None) -> SloReport | None:
        tracker = self.trackers.get(key)
        return tracker.report(self.now() if now is None else now) if tracker else None


async def load_reports(store: CountsStore, journeys: Sequence[Journey],
                       now: float | None = None) -> list[SloReport]:
    """One-shot: every SLO's report from the store alone (the `slo` command)."""
    engine = SloEngine(store, clock=(lambda: now) if now is not None else system_clock)
    engine.set_journeys(journeys)
    await engine.sync()
    return engine.evaluate()
