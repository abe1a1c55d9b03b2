"""The scheduler: stable offsets, drift-free cadence, no overlap, concurrency, reload and drain."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.config.loader import load_config
from agent.daemon.lifecycle import Daemon
from agent.daemon.scheduler import DEFAULT_TICK, Scheduler, schedule_offset, slot_after
from agent.daemon.worker import Worker
from agent.journey.model import Journey
from tests.daemon_helpers import config

TOLERANCE = 0.5
"""Seconds of start lateness allowed: generous, as CI machines are shared. The faults it guards against
are larger: drift from the end of a run (0.8 s runs here), or a hanging run holding others (10 s)."""
SAFETY = 15.0
"""Deadline of every wait on a condition: only a safety net, a condition not met by then is a failure."""


def make(name: str, interval: float = 1.0, **extra: object) -> Journey:
    return Journey.model_validate({"name": name, "interval": interval,
                                   "steps": [{"name": "s", "http": {"url": "http://127.0.0.1:1/"}}], **extra})


def due_soon(prefix: str, interval: float = 1.0, lo: float = 0.15, hi: float = 0.4,
             avoid: tuple[float, float] | None = None) -> str:
    """A name whose next due time is `lo`..`hi` s from now, so tests do not wait a whole interval."""
    now = time.time()
    for i in range(10_000):
        name = f"{prefix}-{i}"
        offset = schedule_offset(name, interval)
        wait = slot_after(now, interval, offset) * interval + offset - now
        if lo <= wait <= hi:
            return name
    raise AssertionError("no name found")


@dataclass
class Recorder:
    """A fake `execute`: records (name, scheduled_at, started, finished|None), sleeps as told."""

    durations: dict[str, float] = field(default_factory=dict)
    calls: list[tuple[str, float, float]] = field(default_factory=list)
    finished: list[tuple[str, float]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    journeys: list[Journey] = field(default_factory=list)
    running: int = 0
    max_running: int = 0

    async def __call__(self, journey: Journey, scheduled_at: float) -> None:
        self.calls.append((journey.name, scheduled_at, time.time()))
        self.journeys.append(journey)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.durations.get(journey.name, 0.0))
            self.finished.append((journey.name, scheduled_at))
        except asyncio.CancelledError:
            self.cancelled.append(journey.name)
            raise
        finally:
            self.running -= 1

    def of(self, name: str) -> list[tuple[float, float]]:
        return [(due, start) for n, due, start in self.calls if n == name]


async def until(cond: Callable[[], bool], within: float = SAFETY) -> None:
    """Poll `cond` every few ms until it holds; `within` is a safety net that fails loudly."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {within}s")
        await asyncio.sleep(0.005)


def on_grid(t: float, name: str, interval: float) -> bool:
    k = (t - schedule_offset(name, interval)) / interval
    return abs(k - round(k)) < 1e-6


def on_ticks(t: float, tick: float = DEFAULT_TICK) -> bool:
    return abs(t / tick - round(t / tick)) < 1e-4  # 5 µs: the float error of an epoch time


def test_offsets_stable_in_range_and_spread() -> None:
    digest = int.from_bytes(hashlib.sha256(b"checkout").digest()[:8], "big")
    assert schedule_offset("checkout", 10, tick=0) == (digest % 10_000) / 1000  # millisecond steps
    assert schedule_offset("checkout", 10) == (digest % 200) * DEFAULT_TICK  # 200 ticks of 50 ms
    assert schedule_offset("checkout", 10) == schedule_offset("checkout", 10.0)
    names = [f"journey-{i}" for i in range(200)]
    for interval in (1, 1.5, 10, 60, 3600):
        offsets = [schedule_offset(n, interval, tick=0) for n in names]
        assert all(0 <= o < interval for o in offsets)
        assert len(set(offsets)) > 150  # spread, not clumped
        ticked = [schedule_offset(n, interval) for n in names]
        assert all(0 <= o < interval and on_ticks(o) for o in ticked)
        assert len(set(ticked)) >= min(interval / DEFAULT_TICK, 150) * 0.6  # spread over the ticks
    assert schedule_offset("a", 1.0004) < 1.0004
    assert schedule_offset("a", 1.0004, tick=0) < 1.0004
    assert all(schedule_offset(n, 0.12) in (0.0, 0.05) for n in names)  # a tick that does not divide it


def test_runs_due_in_one_tick_share_their_due_time() -> None:
    """The point of the tick: 100 journeys every second fall on 20 due times, each a whole tick."""
    now = 1_700_000_000.25
    sched = Scheduler(Recorder(), clock=lambda: now)
    sched.update([make(f"j-{i}") for i in range(100)])
    due = [sched.next_due(f"j-{i}") for i in range(100)]
    assert all(on_ticks(d) for d in due) and len(set(due)) <= 20
    jittered = Scheduler(Recorder(), clock=lambda: now, jitter=0.2)
    jittered.update([make(f"j-{i}") for i in range(100)])
    assert all(on_ticks(jittered.next_due(f"j-{i}")) for i in range(100))
    exact = Scheduler(Recorder(), clock=lambda: now, tick=0)
    exact.update([make(f"j-{i}") for i in range(100)])
    assert len({exact.next_due(f"j-{i}") for i in range(100)}) > 60
    with pytest.raises(ValueError, match="tick"):
        Scheduler(Recorder(), tick=2.0)


def test_next_due_from_the_schedule_with_a_fixed_clock() -> None:
    now = 1_700_000_000.25
    sched = Scheduler(Recorder(), clock=lambda: now)
    sched.update([make("a", 10), make("b", 10)])
    for name in ("a", "b"):
        due = sched.next_due(name)
        assert now < due <= now + 10
        assert on_grid(due, name, 10)
    assert sched.next_due("a") != sched.next_due("b")
    with pytest.raises(ValueError):
        Scheduler(Recorder(), jitter=0.6)
    with pytest.raises(ValueError):
        Scheduler(Recorder(), concurrency=0)


async def test_cadence_does_not_drift_when_runs_take_most_of_the_interval() -> None:
    rec = Recorder()
    names = [due_soon("cadence-a"), due_soon("cadence-b", lo=0.2, hi=0.45)]
    for n in names:
        rec.durations[n] = 0.8
    sched = Scheduler(rec)
    sched.update([make(n) for n in names])
    await sched.start()
    await until(lambda: all(len(rec.of(n)) >= 3 for n in names))
    assert await sched.drain(1.0) == 0
    for n in names:
        runs = rec.of(n)
        dues = [due for due, _ in runs]
        assert all(on_grid(d, n, 1.0) for d in dues), dues
        assert [round(b - a, 6) for a, b in itertools.pairwise(dues)] == [1.0] * (len(dues) - 1)
        assert all(0 <= start - due < TOLERANCE for due, start in runs), runs
        assert sched.stats[n].skipped == 0
    assert len(sched.lateness) == len(rec.calls)
    assert max(sched.lateness) < TOLERANCE


async def test_a_run_longer_than_the_interval_skips_the_due_times_it_covers() -> None:
    rec = Recorder()
    name = due_soon("overlap")
    rec.durations[name] = 2.5
    sched = Scheduler(rec)
    sched.update([make(name)])
    await sched.start()
    await until(lambda: len(rec.calls) == 2)
    stats = sched.stats[name]
    (first, _), (second, _) = rec.of(name)
    assert second - first == pytest.approx(3.0)  # due times +1 and +2 were skipped
    assert stats.skipped == 2 and sched.skipped_total == 2
    assert stats.started == 2 and stats.scheduled == 4
    assert stats.in_flight
    assert rec.max_running == 1
    assert await sched.drain(0) == 1
    assert not stats.in_flight


async def test_a_hanging_journey_does_not_delay_others() -> None:
    rec = Recorder()
    hang, quick = due_soon("hang"), due_soon("quick", lo=0.2, hi=0.5)
    rec.durations[hang] = 10.0
    sched = Scheduler(rec)
    sched.update([make(hang), make(quick)])
    await sched.start()
    await until(lambda: len(rec.of(quick)) >= 3)
    assert len(rec.of(hang)) == 1
    assert all(start - due < TOLERANCE for due, start in rec.of(quick))
    assert sched.stats[hang].skipped >= 1
    assert await sched.drain(0.1) == 1
    assert rec.cancelled == [hang]
    assert sched.stats[hang].cancelled == 1


async def test_the_concurrency_limit_holds() -> None:
    rec = Recorder()
    names = [f"busy-{i}" for i in range(30)]
    for n in names:
        rec.durations[n] = 0.9
    executing_at_start: list[int] = []

    async def execute(journey: Journey, scheduled_at: float) -> None:
        executing_at_start.append(sched.in_flight)  # this run included
        await rec(journey, scheduled_at)

    sched = Scheduler(execute, concurrency=5)
    sched.update([make(n) for n in names])
    await sched.start()
    # two rounds of five have started, and journeys waiting for a slot skipped their next due time
    await until(lambda: len(rec.calls) >= 10 and sched.skipped_total > 0)
    assert sched.waiting > 0
    await sched.drain(0)
    assert rec.max_running == 5 and max(executing_at_start) == 5
    assert sched.in_flight == 0 and sched.waiting == 0


async def test_update_adds_removes_changes_and_leaves_the_rest_alone() -> None:
    rec = Recorder()
    keep, change, drop = due_soon("keep"), due_soon("change"), due_soon("drop")
    rec.durations[drop] = 0.6
    sched = Scheduler(rec)
    assert sched.update([make(keep), make(change), make(drop)]) == {
        "added": sorted([keep, change, drop]), "removed": [], "changed": []}
    await sched.start()
    await until(lambda: sched.stats[drop].in_flight and sched.stats[keep].started >= 1
                and sched.stats[change].started >= 1)
    keep_stats, keep_due, keep_runs = sched.stats[keep], sched.next_due(keep), sched.stats[keep].started
    change_stats = sched.stats[change]
    new = due_soon("new")

    changes = sched.update([make(keep), make(change, interval=2), make(new)])  # keep: an equal copy

    assert changes == {"added": [new], "removed": [drop], "changed": [change]}
    assert sched.stats[keep] is keep_stats and keep_stats.started == keep_runs
    assert sched.next_due(keep) == keep_due
    assert sched.stats[change] is change_stats
    assert on_grid(sched.next_due(change), change, 2.0)
    assert drop not in sched.stats
    assert sched.update([make(keep), make(change, interval=2), make(new)]) == {
        "added": [], "removed": [], "changed": []}

    await until(lambda: len(rec.of(new)) >= 1 and len(rec.of(change)) >= 2 and keep_stats.started > keep_runs)
    assert (drop, rec.of(drop)[0][0]) in rec.finished  # its run in flight finished
    assert len(rec.of(drop)) == 1 and drop not in rec.cancelled  # and no new one started
    assert [j.interval for j in rec.journeys if j.name == change][-1] == 2.0
    assert on_grid(rec.of(change)[-1][0], change, 2.0)
    await sched.drain(1.0)


async def test_drain_lets_short_runs_finish_and_cancels_long_ones() -> None:
    rec = Recorder()
    short, long_ = due_soon("short", lo=0.3, hi=0.5), due_soon("long", lo=0.1, hi=0.25)
    rec.durations.update({short: 0.3, long_: 10.0})
    loop = asyncio.get_running_loop()
    drained_at: list[float] = []
    sched = Scheduler(rec)
    sched.update([make(short), make(long_)])
    await sched.start()
    await until(lambda: rec.running == 2)
    t0 = loop.time()

    async def drain() -> int:
        try:
            return await sched.drain(1.0)
        finally:
            drained_at.append(loop.time())

    assert await asyncio.wait_for(drain(), SAFETY) == 1
    assert drained_at[0] - t0 >= 0.95  # the long run had its grace (no upper bound: it was cancelled)
    assert [n for n, _ in rec.finished] == [short]
    assert rec.cancelled == [long_]
    assert sched.in_flight == 0

    # Nothing starts after drain: no timer is armed, and the due times that come next pass by
    # without a run. A second scheduler with a journey due after both is the witness that they passed.
    assert all(entry.handle is None for entry in sched._entries.values())
    started = len(rec.calls)
    last_due = max(sched.next_due(short), sched.next_due(long_))
    witness_calls: list[str] = []

    async def witness_execute(journey: Journey, scheduled_at: float) -> None:
        witness_calls.append(journey.name)

    wait = last_due - time.time()
    later = due_soon("witness", interval=2.0, lo=wait + 0.05, hi=wait + 0.6)
    witness = Scheduler(witness_execute)
    witness.update([make(later, interval=2.0)])
    await witness.start()
    await until(lambda: witness_calls == [later])
    await witness.drain(0)
    assert time.time() > last_due
    assert len(rec.calls) == started  # nothing started after drain

    quick = Scheduler(rec)  # all runs done inside the grace: drain returns at once
    assert await quick.drain(5.0) == 0


async def test_jitter_stays_within_its_share_of_the_interval() -> None:
    rec = Recorder()
    names = [f"jitter-{i}" for i in range(20)]
    sched = Scheduler(rec, jitter=0.3)
    sched.update([make(n) for n in names])
    await sched.start()
    await until(lambda: all(len(rec.of(n)) >= 2 for n in names))
    await sched.drain(0.5)
    assert len(rec.calls) >= 40
    fractions = []
    for name, due, start in rec.calls:
        off = (due - schedule_offset(name, 1.0)) % 1.0
        assert 0 <= off < 0.3 + 1e-6 and on_ticks(off)
        assert 0 <= start - due < TOLERANCE
        fractions.append(off)
    assert len({round(f, 4) for f in fractions}) >= 4  # really random: 6 ticks in 0.3 s


async def test_a_failing_execute_does_not_stop_the_schedule() -> None:
    name = due_soon("boom")
    calls: list[float] = []

    async def execute(journey: Journey, scheduled_at: float) -> None:
        calls.append(scheduled_at)
        raise RuntimeError("boom")

    sched = Scheduler(execute)
    sched.update([make(name)])
    await sched.start()
    await until(lambda: len(calls) >= 2)
    await sched.drain(0)
    assert sched.stats[name].failed >= 2
    assert calls[1] - calls[0] == pytest.approx(1.0)


async def test_a_journey_removed_and_added_back_does_not_overlap_its_old_run() -> None:
    rec = Recorder()
    name = due_soon("readd")
    rec.durations[name] = 1.5
    sched = Scheduler(rec)
    sched.update([make(name)])
    await sched.start()
    await until(lambda: rec.running == 1)
    assert sched.update([]) == {"added": [], "removed": [name], "changed": []}
    assert sched.update([make(name)]) == {"added": [name], "removed": [], "changed": []}
    stats = sched.stats[name]
    assert stats.in_flight and stats.started == 0  # fresh stats, but it knows the old run is going
    await until(lambda: stats.skipped == 1)  # the next due time came during the old run
    assert rec.max_running == 1
    await until(lambda: stats.started == 1)
    assert not sched.stats[name].cancelled
    await sched.drain(0)


def test_each_location_gets_its_own_offset_unless_aligned() -> None:
    names = [f"journey-{i}" for i in range(200)]
    for interval in (10, 60, 300):
        eu = [schedule_offset(n, interval, "eu-west-1") for n in names]
        us = [schedule_offset(n, interval, "us-east-1") for n in names]
        assert all(0 <= o < interval for o in eu + us)
        apart = [abs(a - b) for a, b in zip(eu, us, strict=True)]
        assert sum(d > 0 for d in apart) > 190  # not in the same tick
        assert len(set(eu)) > 100  # still spread over the interval within a location
    assert schedule_offset("checkout", 60, "eu-west-1") == schedule_offset("checkout", 60, "eu-west-1")
    assert schedule_offset("checkout", 60, "") == schedule_offset("checkout", 60)  # aligned: the name alone


def test_the_scheduler_plans_on_its_locations_grid() -> None:
    now = 1_700_000_000.25
    due = {}
    for location in ("eu-west-1", "us-east-1", ""):
        sched = Scheduler(Recorder(), clock=lambda: now, location=location)
        sched.update([make("checkout", 60)])
        due[location] = sched.next_due("checkout")
        k = (due[location] - schedule_offset("checkout", 60, location)) / 60
        assert abs(k - round(k)) < 1e-6 and now < due[location] <= now + 60
    assert len(set(due.values())) == 3
    aligned = [Scheduler(Recorder(), clock=lambda: now) for _ in range(2)]
    for sched in aligned:
        sched.update([make("checkout", 60)])
    assert aligned[0].next_due("checkout") == aligned[1].next_due("checkout") == due[""]


def test_agent_yaml_spreads_locations_unless_told_to_align(tmp_path: Path) -> None:
    assert Daemon(config(tmp_path)).scheduler.location == "test"
    assert Daemon(config(tmp_path)).scheduler.tick == DEFAULT_TICK == 0.05
    assert Daemon(config(tmp_path, schedule={"tick": 0})).scheduler.tick == 0
    # a worker process plans with the same offsets as the daemon would alone
    ticked = config(tmp_path, schedule={"tick": "100ms"})
    worker = Worker({"config": ticked.model_dump(mode="json", by_alias=True), "index": 0, "count": 2},
                    writer=None)  # type: ignore[arg-type]  # not written to here
    assert (worker.scheduler.location, worker.scheduler.tick) == ("test", 0.1)
    assert Daemon(config(tmp_path, schedule={"spread_locations": False})).scheduler.location == ""
    (tmp_path / "agent.yaml").write_text("location: eu-west-1\nschedule: {spread_locations: true}\n")
    aligned = load_config(str(tmp_path / "agent.yaml"), {"JOURNEYPROBE_SCHEDULE_SPREAD_LOCATIONS": "false"})
    assert aligned.schedule.spread_locations is False and aligned.location == "eu-west-1"
