"""The SLO engine: per-minute counts per SLO in memory, windows by prefix sums, reports.

Counts come from two places. `observe` adds a finished run at once, so the status is fresh;
`sync` then makes each minute exact from the store once the minute is *settled* (every run
started in it has finished and been committed), and loads an SLO's history the first time.
Setting a settled minute to the store's count is idempotent, so nothing is ever counted
twice, however the two paths interleave.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agent.model import Journey, Slo
from agent.result import RunResult
from agent.slo.indicator import is_good
from agent.slo.math import burn_rate, error_budget_remaining, sli
from agent.slo.windows import BURN_WINDOWS, Counts, MinuteSeries, minute_of, minutes_of

REASSIGN_MINUTES = 5  # settled minutes read again on each sync, in case the store lagged


class CountsStore(Protocol):
    """The part of `agent.store.Store` the engine reads."""

    async def minute_counts(self, slo: str, journey: str, since_minute: int,
                            until_minute: int) -> list[tuple[int, int, int, int]]: ...


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
        self.series: MinuteSeries | None = None
        self.settled = 0  # minutes up to here hold the store's committed counts
        self.commit_margin_s = commit_margin_s
        self.run_span_s = 0.0
        self.update(journey, slo)

    def update(self, journey: Journey, slo: Slo) -> None:
        """Take a changed definition that keeps the same window (objective, owner, timing)."""
        self.slo = slo
        self.run_span_s = journey.retry.attempts * (journey.timeout + journey.retry.delay)

    @property
    def loaded(self) -> bool:
        return self.series is not None

    def settled_until(self, now: float) -> int:
        """The newest minute whose runs have all finished and been committed by `now`."""
        return minute_of(now - self.run_span_s - self.commit_margin_s) - 1

    def observe(self, minute: int, verdict: bool | None) -> None:
        if self.series is None:
            return  # the history load will bring it from the store
        if verdict is None:
            self.series.add(minute, 0, 0, 1)
        else:
            self.series.add(minute, int(verdict), 1, 0)

    def report(self, now: float) -> SloReport:
        objective = self.slo.objective
        if self.series is None:
            empty = _stats("slo", self.slo.window, Counts(), objective)
            return SloReport(self.key, self.journey_name, self.slo, now, False, empty,
                             {n: _stats(n, s, Counts(), objective) for n, s in BURN_WINDOWS.items()})
        head = minute_of(now)
        series = self.series
        series.advance(head)
        overall = _stats("slo", self.slo.window, series.window(minutes_of(self.slo.window), head), objective)
        windows = {name: _stats(name, seconds, series.window(minutes_of(seconds), head), objective)
                   for name, seconds in BURN_WINDOWS.items()}
        return SloReport(self.key, self.journey_name, self.slo, now, True, overall, windows,
                         error_budget_remaining(overall.sli, objective))


class SloEngine:
    """Every SLO of the agent's journeys: history from the store, fresh runs by `observe`."""

    def __init__(self, store: CountsStore, *, clock: Callable[[], float] = time.time,
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

        With `load_budget_s`, history loads stop after that long; the rest load next time.
        """
        now = self.now() if now is None else now
        started = time.monotonic()
        flush = getattr(self.store, "flush", None)
        settling = any(t.loaded and t.settled_until(now) > t.settled for t in self.trackers.values())
        if flush is not None and settling:
            await flush()  # what is still queued for the store belongs in the minutes about to settle
        for tracker in list(self.trackers.values()):
            if tracker.series is None:
                if load_budget_s is not None and time.monotonic() - started > load_budget_s:
                    continue
                await self._load(tracker, now)
            else:
                await self._settle(tracker, now)

    async def _load(self, tracker: SloTracker, now: float) -> None:
        head = minute_of(now)
        capacity = tracker.window_minutes + 2
        rows = await self.store.minute_counts(tracker.slo.name, tracker.journey_name,
                                              head - capacity + 2, head + 1)
        self.reads += 1
        if self.trackers.get(tracker.key) is not tracker:
            return  # replaced or removed meanwhile
        tracker.series = MinuteSeries.from_rows(capacity, head, rows)
        tracker.settled = tracker.settled_until(now)

    async def _settle(self, tracker: SloTracker, now: float) -> None:
        settled = tracker.settled_until(now)
        if settled <= tracker.settled:
            return
        start = tracker.settled - REASSIGN_MINUTES + 1
        rows = await self.store.minute_counts(tracker.slo.name, tracker.journey_name, start, settled + 1)
        self.reads += 1
        if tracker.series is None or self.trackers.get(tracker.key) is not tracker:
            return
        tracker.series.assign(start, settled, {m: (g, t, x) for m, g, t, x in rows})
        tracker.settled = settled

    def evaluate(self, now: float | None = None) -> list[SloReport]:
        """Every SLO's report at `now`: pure arithmetic on the in-memory counts."""
        now = self.now() if now is None else now
        return [tracker.report(now) for tracker in self.trackers.values()]

    def report(self, key: str, now: float | None = None) -> SloReport | None:
        tracker = self.trackers.get(key)
        return tracker.report(self.now() if now is None else now) if tracker else None


async def load_reports(store: CountsStore, journeys: Sequence[Journey],
                       now: float | None = None) -> list[SloReport]:
    """One-shot: every SLO's report from the store alone (the `slo` command)."""
    engine = SloEngine(store, clock=(lambda: now) if now is not None else time.time)
    engine.set_journeys(journeys)
    await engine.sync()
    return engine.evaluate()
