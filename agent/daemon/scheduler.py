"""The part of the daemon that owns time: when each journey runs, how many run at once.

Every journey runs every `interval` seconds at a fixed offset within the interval derived from a
stable hash of its name and the agent's location, so starts spread over the interval the way
Prometheus spreads scrapes, and two locations do not probe one target in the same instant
(`schedule.spread_locations: false` hashes the name alone: every location at the same offset).
Due times are `k * interval + offset` on the wall clock (aligned to the epoch), plus an optional
random jitter; the cadence comes from the schedule, never from when the last run ended.

Offsets (and jitter) are whole multiples of `schedule.tick` (50 ms by default): journeys whose due
times fall in one tick start together, in one wake-up of the event loop. At 1,000 journeys every
10 s that is 5 runs a wake-up instead of 1, and a wake-up costs about as much CPU as a one-request
run (docs/benchmarks.md). `tick: 0` spreads offsets in millisecond steps.

A journey never overlaps itself: a due time that arrives while its previous run is still going
(or still waiting for a slot) is skipped and counted. Executors never sleep or schedule; the one
timer per journey is a `loop.call_at` handle, and each run is exactly one task.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from agent.config.models import AgentConfig
from agent.core.clock import Clock, system_clock
from agent.journey.model import Journey

log = logging.getLogger("journeyprobe.scheduler")

Execute = Callable[[Journey, float], Awaitable[None]]

LATENESS_SAMPLES = 100_000
"""Start lateness samples kept (a ring), enough for percentiles in benchmarks."""
MAX_SLEEP = 30.0
"""Longest single timer: longer waits re-check the wall clock, so monotonic/wall drift stays small."""
EARLY_TOLERANCE = 1e-4
"""A timer that fires more than this before its wall-clock due time waits for the remainder."""
SKIP_WARN_EVERY = 60.0
"""Seconds between two warnings about skipped runs of one journey."""
DEFAULT_TICK = 0.05
"""Seconds: the grid that offsets and jitter are whole multiples of (see the module docstring)."""
LATENESS_BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
"""Bounds (s) of `journeyprobe_run_start_lateness_seconds`: is the agent keeping its schedule?"""


def schedule_offset(name: str, interval: float, location: str = "", tick: float = DEFAULT_TICK) -> float:
    """The journey's fixed offset within its interval, in [0, interval), in steps of `tick` (0: 1 ms).

    With a `location`, the hash covers it too, so each location gets its own offset; without
    one (`""`), every agent that runs the journey gets the same.
    """
    key = f"{name}\x00{location}" if location else name
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big")
    if tick > 0:
        steps = max(1, math.floor(interval / tick + 1e-9))
        return (digest % steps) * tick
    return (digest % max(1, int(interval * 1000))) / 1000.0


def slot_after(now: float, interval: float, offset: float) -> int:
    """Index k of the first slot `k * interval + offset` strictly after `now`."""
    k = math.floor((now - offset) / interval) + 1
    while k * interval + offset <= now:  # float rounding at slot boundaries
        k += 1
    while (k - 1) * interval + offset > now:
        k -= 1
    return k


@dataclass(slots=True)
class JourneyStats:
    """Counters of one journey; `scheduled` due times = `started` + `skipped` (+ one pending)."""

    scheduled: int = 0
    started: int = 0
    skipped: int = 0
    failed: int = 0
    """Runs whose `execute` raised (it is meant to record failures itself and return)."""
    cancelled: int = 0
    last_lateness_s: float | None = None
    in_flight: bool = False
    """A run of this journey is waiting for a slot or executing."""


@dataclass(slots=True, eq=False)
class _Entry:
    journey: Journey
    stats: JourneyStats
    offset: float
    slot: int = 0
    next_due: float = 0.0
    handle: asyncio.TimerHandle | None = None
    skips_unreported: int = 0
    last_warning: float = field(default=-math.inf)


class Scheduler:
    """Runs journeys on their schedules through `execute(journey, scheduled_at)`."""

    @classmethod
    def for_config(cls, execute: Execute, config: AgentConfig, clock: Clock = system_clock) -> Scheduler:
        """The scheduler an agent (or one of its workers) runs with `config`: every process the same offsets."""
        return cls(execute, concurrency=config.concurrency, jitter=config.jitter, clock=clock,
                   location=config.location if config.schedule.spread_locations else "", tick=config.schedule.tick)

    def __init__(self, execute: Execute, *, concurrency: int = 100, jitter: float = 0.0,
                 clock: Clock = system_clock, location: str = "", tick: float = DEFAULT_TICK) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if not 0.0 <= jitter <= 0.5:
            raise ValueError(f"jitter is a fraction of the interval in [0, 0.5], not {jitter}")
        self._execute = execute
        self.location = location
        """Hashed into every offset (see `schedule_offset`); "" aligns this agent with every other."""
        if not 0.0 <= tick <= 1.0:
            raise ValueError(f"tick is in [0, 1] seconds, not {tick}")
        self.concurrency = concurrency
        self.jitter = jitter
        self.tick = tick
        self._time = clock
        self._sem = asyncio.Semaphore(concurrency)
        self._rng = random.Random()
        self._entries: dict[str, _Entry] = {}
        self._active: dict[str, asyncio.Task[None]] = {}
        """The one live run task per journey name, kept after removal until the run ends."""
        self._executing: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduling = False
        self.stats: dict[str, JourneyStats] = {}
        self.in_flight = 0
        """Runs executing now (holding one of the `concurrency` slots)."""
        self.waiting = 0
        """Runs due and waiting for a slot."""
        self.started_total = 0
        self.skipped_total = 0
        self.lateness: deque[float] = deque(maxlen=LATENESS_SAMPLES)
        """Start lateness samples: actual start minus due time, seconds."""
        self.lateness_bounds = LATENESS_BOUNDS
        self.lateness_buckets = [0] * len(LATENESS_BOUNDS)
        """Runs started, by lateness bucket (not cumulative; beyond the last bound: `started_total`)."""
        self.lateness_sum = 0.0

    # -- configuration -------------------------------------------------------------------------
    def update(self, journeys: Sequence[Journey]) -> dict[str, list[str]]:
        """Add new journeys, remove missing ones, replace changed ones; unchanged stay untouched."""
        wanted = {j.name: j for j in journeys}
        if len(wanted) != len(journeys):
            raise ValueError("journey names must be unique")
        added: list[str] = []
        removed: list[str] = []
        changed: list[str] = []
        for name in [n for n in self._entries if n not in wanted]:
            self._disarm(self._entries.pop(name))
            del self.stats[name]
            removed.append(name)  # a run in flight finishes; no new ones start
        for name, journey in wanted.items():
            entry = self._entries.get(name)
            if entry is None:
                stats = JourneyStats(in_flight=name in self._active)
                entry = _Entry(journey, stats, schedule_offset(name, journey.interval, self.location, self.tick))
                self._entries[name] = entry
                self.stats[name] = stats
                self._plan(entry, self._time())
                self._arm(entry)
                added.append(name)
            elif entry.journey != journey:
                old_interval = entry.journey.interval
                entry.journey = journey  # takes effect at the next due time
                if journey.interval != old_interval:
                    self._disarm(entry)
                    entry.offset = schedule_offset(name, journey.interval, self.location, self.tick)
                    self._plan(entry, self._time())
                    self._arm(entry)
                changed.append(name)
        return {"added": sorted(added), "removed": sorted(removed), "changed": sorted(changed)}

    @property
    def journeys(self) -> dict[str, Journey]:
        return {name: entry.journey for name, entry in self._entries.items()}

    def next_due(self, name: str) -> float:
        """Wall-clock time the journey is next due (jitter included). KeyError when unknown."""
        return self._entries[name].next_due

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start scheduling every journey; idempotent."""
        if self._scheduling:
            return
        self._loop = asyncio.get_running_loop()
        self._scheduling = True
        now = self._time()
        for entry in self._entries.values():
            if entry.next_due <= now:
                self._plan(entry, now)
            self._arm(entry)

    def stop_scheduling(self) -> None:
        """Start no more runs: timers stop, runs still waiting for a slot are dropped."""
        self._scheduling = False
        for entry in self._entries.values():
            self._disarm(entry)
        for task in self._active.values():
            if task not in self._executing:
                task.cancel()

    async def drain(self, grace: float) -> int:
        """Stop scheduling, wait up to `grace` s for runs in flight, cancel the rest: how many."""
        self.stop_scheduling()
        tasks = set(self._active.values())
        if not tasks:
            return 0
        pending = tasks
        if grace > 0:
            _, pending = await asyncio.wait(tasks, timeout=grace)
        cancelled = [t for t in pending if t in self._executing]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return len(cancelled)

    # -- timers --------------------------------------------------------------------------------
    def _plan(self, entry: _Entry, now: float) -> None:
        """Set the entry's next slot: the first one after `now`."""
        interval = entry.journey.interval
        entry.slot = slot_after(now, interval, entry.offset)
        entry.next_due = self._due(entry.slot, interval, entry.offset)

    def _due(self, slot: int, interval: float, offset: float) -> float:
        due = slot * interval + offset
        if self.jitter:
            due += self._rng.random() * self.jitter * interval
        if self.tick:  # the same float for every journey due in this tick: one timer batch
            due = round(due / self.tick) * self.tick
        return due

    def _arm(self, entry: _Entry, now: float | None = None) -> None:
        if not self._scheduling or self._loop is None:
            return
        wait = entry.next_due - (self._time() if now is None else now)
        loop = self._loop
        entry.handle = loop.call_at(loop.time() + min(max(wait, 0.0), MAX_SLEEP), self._fire, entry)

    @staticmethod
    def _disarm(entry: _Entry) -> None:
        if entry.handle is not None:
            entry.handle.cancel()
            entry.handle = None

    def _fire(self, entry: _Entry) -> None:
        """A journey's timer: start its run (or skip it), then arm the next due time."""
        entry.handle = None
        if not self._scheduling or self._entries.get(entry.journey.name) is not entry:
            return
        now = self._time()
        if entry.next_due - now > EARLY_TOLERANCE:  # long wait in steps, or the clocks disagree
            self._arm(entry, now)
            return
        journey, due, stats = entry.journey, entry.next_due, entry.stats
        stats.scheduled += 1
        if journey.name in self._active:
            self._skip(entry, 1, "its previous run is still going")
        else:
            task = asyncio.create_task(self._run(journey, due, stats), name=f"journey:{journey.name}")
            self._active[journey.name] = task
            stats.in_flight = True
            task.add_done_callback(partial(self._done, journey.name))
        interval = journey.interval
        slot = entry.slot + 1
        if slot * interval + entry.offset <= now:  # fell behind a whole interval: loop stalled, clock jumped
            behind = slot_after(now, interval, entry.offset)
            stats.scheduled += behind - slot
            self._skip(entry, behind - slot, "the scheduler fell behind")
            slot = behind
        entry.slot = slot
        entry.next_due = self._due(slot, interval, entry.offset)
        self._arm(entry, now)

    def _skip(self, entry: _Entry, count: int, why: str) -> None:
        entry.stats.skipped += count
        self.skipped_total += count
        entry.skips_unreported += count
        now = time.monotonic()
        if now - entry.last_warning >= SKIP_WARN_EVERY:
            log.warning("journey %s: skipped %d due run(s), %s (interval %gs)", entry.journey.name,
                        entry.skips_unreported, why, entry.journey.interval)
            entry.last_warning = now
            entry.skips_unreported = 0

    # -- runs ----------------------------------------------------------------------------------
    async def _run(self, journey: Journey, due: float, stats: JourneyStats) -> None:
        sem = self._sem
        if sem.locked():
            self.waiting += 1
            try:
                await sem.acquire()
            except asyncio.CancelledError:
                stats.skipped += 1  # dropped at shutdown before it started
                self.skipped_total += 1
                raise
            finally:
                self.waiting -= 1
        else:
            await sem.acquire()  # free slot: returns without suspending
        task = asyncio.current_task()
        assert task is not None
        self._executing.add(task)
        self.in_flight += 1
        try:
            start = self._time()
            lateness = start - due
            stats.started += 1
            stats.last_lateness_s = lateness
            self.lateness.append(lateness)
            index = bisect_left(LATENESS_BOUNDS, lateness)
            if index < len(LATENESS_BOUNDS):
                self.lateness_buckets[index] += 1
            self.lateness_sum += lateness
            self.started_total += 1
            await self._execute(journey, due)
        except asyncio.CancelledError:
            stats.cancelled += 1
            raise
        except Exception:
            stats.failed += 1
            log.exception("journey %s: the run due at %.3f raised", journey.name, due)
        finally:
            self.in_flight -= 1
            self._executing.discard(task)
            sem.release()

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._active.get(name) is task:
            del self._active[name]
            stats = self.stats.get(name)
            if stats is not None:
                stats.in_flight = False
