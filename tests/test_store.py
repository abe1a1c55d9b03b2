"""The SQLite result store: real files under tmp_path, RunResults built in code."""

from __future__ import annotations

import asyncio
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import store_schema
from agent.result import AttemptSummary, ErrorType, Outcome, Phases, RunResult, StepResult
from agent.store import Store, StoreError, StoreVersionError

T0 = time.time() // 60 * 60 - 86400  # a whole unix minute, a day ago: within retention
CHILD = Path(__file__).with_name("store_crash_child.py")


def result(journey: str = "checkout", at: float = T0, outcome: Outcome = Outcome.SUCCESS, *,
           agent_side: bool = False, steps: int = 1, trace: str = "ab" * 16) -> RunResult:
    ok = outcome is Outcome.SUCCESS
    return RunResult(
        journey=journey, outcome=outcome, started_at=datetime.fromtimestamp(at, UTC),
        duration_s=0.25, trace_id=trace, location="tokyo-1",
        error_type=None if ok else (ErrorType.AGENT if agent_side else ErrorType.ASSERTION),
        agent_side=agent_side,
        steps=tuple(StepResult(name=f"step{i}", outcome=outcome if i == steps - 1 else Outcome.SUCCESS,
                               duration_s=0.1, status=200, phases=Phases(0.001, 0.002, 0.0, 0.05, 0.01),
                               error=None if ok else 'expected status == 200, saw 503')
                    for i in range(steps)))


async def test_round_trip(tmp_path: Path) -> None:
    rich = RunResult(
        journey="checkout", outcome=Outcome.SUCCESS, attempt=2,
        started_at=datetime(2026, 11, 29, 7, 0, 0, 123000, tzinfo=UTC), duration_s=0.412,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736", location="tokyo-1",
        steps=(StepResult(name="login", outcome=Outcome.SUCCESS, duration_s=0.101, status=200,
                          phases=Phases(0.0, 0.001, 0.0, 0.09, 0.01)),
               StepResult(name="page", kind="browser", outcome=Outcome.SUCCESS, duration_s=1.5,
                          actions=({"goto": "/cart", "ms": 120},), vitals=({"lcp_s": 0.8},),
                          artifacts=("shot.png",))),
        earlier_attempts=(AttemptSummary(1, Outcome.TIMEOUT, ErrorType.TIMEOUT, "timed out", "cd" * 16),))
    store = await Store.open(tmp_path / "jp.db", flush_interval=60)
    await store.add(rich, {"avail": True})
    assert store.pending == 1
    assert await store.runs("checkout") == []  # reads see committed results only
    await store.flush()
    assert (store.pending, store.written, store.batches) == (0, 1, 1)
    [doc] = await store.runs("checkout")
    assert doc == rich.to_dict()
    assert RunResult.from_dict(doc).to_dict() == rich.to_dict()
    await store.close()


async def test_newest_first_limit_and_last_runs(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db")
    for i in range(10):
        await store.add(result("a", T0 + i, trace=f"{i:032x}"))
        await store.add(result("b", T0 + 100 - i, trace=f"{100 + i:032x}"))
    await store.add(result("c", T0 + 5, Outcome.FAILURE))
    await store.flush()
    docs = await store.runs("a", limit=3)
    assert [d["trace_id"] for d in docs] == [f"{i:032x}" for i in (9, 8, 7)]
    assert len(await store.runs("a")) == 10
    assert await store.runs("nope") == []
    last = await store.last_runs()
    assert sorted(last) == ["a", "b", "c"]
    assert last["a"]["trace_id"] == f"{9:032x}"
    assert last["b"]["trace_id"] == f"{100:032x}"  # added first, but started last
    assert last["c"]["outcome"] == "failure"
    assert await store.journey_names() == ["a", "b", "c"]
    assert await store.run_count() == 21
    await store.close()


async def test_minute_counts(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db", flush_interval=60)
    m0 = int(T0 // 60)
    # minute m0: 2 passed, 1 failed, 1 agent-side; minute m0 + 2: 1 passed
    await store.add(result(at=T0 + 1), {"avail": True, "fast": False})
    await store.add(result(at=T0 + 2), {"avail": True, "fast": True})
    await store.flush()  # the rest of minute m0 lands in another batch: the upsert adds up
    await store.add(result(at=T0 + 30, outcome=Outcome.FAILURE), {"avail": False, "fast": False})
    await store.add(result(at=T0 + 59, outcome=Outcome.ERROR, agent_side=True), {"avail": None, "fast": None})
    await store.add(result(at=T0 + 125), {"avail": True})
    await store.add(result("other", at=T0 + 3), {"avail": False})
    await store.flush()
    assert await store.minute_counts("", "checkout", m0, m0 + 10) == [(m0, 2, 3, 1), (m0 + 2, 1, 1, 0)]
    assert await store.minute_counts("avail", "checkout", m0, m0 + 10) == [(m0, 2, 3, 1), (m0 + 2, 1, 1, 0)]
    assert await store.minute_counts("fast", "checkout", m0, m0 + 10) == [(m0, 1, 3, 1)]
    assert await store.minute_counts("avail", "other", m0, m0 + 10) == [(m0, 0, 1, 0)]
    # half-open range: since <= minute < until
    assert await store.minute_counts("avail", "checkout", m0 + 1, m0 + 2) == []
    assert await store.minute_counts("avail", "checkout", m0, m0 + 2) == [(m0, 2, 3, 1)]
    with pytest.raises(ValueError):
        await store.add(result(), {"": True})
    await store.close()


@settings(max_examples=25, deadline=None)
@given(runs=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(list(Outcome)), st.booleans(),
                               st.sampled_from([True, False, None])), max_size=40),
       batch_size=st.integers(1, 8))
def test_minute_counts_match_a_naive_count(runs: list[tuple[int, Outcome, bool, bool | None]],
                                           batch_size: int) -> None:
    async def go() -> tuple[list[Any], list[Any]]:
        store = await Store.open(":memory:", batch_size=batch_size, flush_interval=60)
        for minute, outcome, agent_side, verdict in runs:
            await store.add(result(at=T0 + 60 * minute + 1, outcome=outcome, agent_side=agent_side),
                            {"s": verdict})
        await store.flush()
        got = (await store.minute_counts("", "checkout", 0, 2**40),
               await store.minute_counts("s", "checkout", 0, 2**40))
        await store.close()
        return got

    own, slo = asyncio.run(go())
    m0 = int(T0 // 60)
    want_own: dict[int, Counter[str]] = {}
    want_slo: dict[int, Counter[str]] = {}
    for minute, outcome, agent_side, verdict in runs:
        c = want_own.setdefault(m0 + minute, Counter())
        c["x" if agent_side else "t"] += 1
        c["g"] += outcome is Outcome.SUCCESS and not agent_side
        s = want_slo.setdefault(m0 + minute, Counter())
        s["x" if verdict is None else "t"] += 1
        s["g"] += verdict is True
    assert own == [(m, c["g"], c["t"], c["x"]) for m, c in sorted(want_own.items())]
    assert slo == [(m, c["g"], c["t"], c["x"]) for m, c in sorted(want_slo.items())]


async def test_batching(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db", batch_size=100, flush_interval=60)
    for i in range(1000):
        await store.add(result(at=T0 + i))
    assert store.pending == 1000 and store.written == 0
    await store.flush()
    assert (store.written, store.batches, store.pending) == (1000, 10, 0)
    assert await store.run_count() == 1000
    assert 0 <= store.last_flush_lag_s < 5
    await store.close()


async def test_writer_flushes_on_batch_size_and_on_interval(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a.db", batch_size=10, flush_interval=60)
    for i in range(10):
        await store.add(result(at=T0 + i))
    await wait_for(lambda: store.written == 10)
    await store.close()
    store = await Store.open(tmp_path / "b.db", batch_size=1000, flush_interval=0.05)
    await store.add(result())
    await wait_for(lambda: store.written == 1)
    assert await store.run_count() == 1
    await store.close()


async def test_bounded_queue_drops_the_oldest(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db", batch_size=5, max_queue=10, flush_interval=60)
    for i in range(15):  # add() never yields, so the writer gets no chance in between
        await store.add(result(at=T0 + i, trace=f"{i:032x}"))
    assert (store.dropped, store.pending) == (5, 10)
    await store.flush()
    kept = [d["trace_id"] for d in await store.runs("checkout", limit=100)]
    assert kept == [f"{i:032x}" for i in range(14, 4, -1)]
    await store.close()


async def test_failed_write_is_retried_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await Store.open(tmp_path / "jp.db", flush_interval=60)
    real = store._write_sync
    calls = 0

    def flaky(batch: Any) -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real(batch)

    monkeypatch.setattr(store, "_write_sync", flaky)
    for i in range(3):
        await store.add(result(at=T0 + i))
    with pytest.raises(sqlite3.OperationalError):
        await store.flush()
    assert (store.pending, store.written) == (3, 0)
    await store.flush()
    assert (store.pending, store.written, await store.run_count()) == (0, 3, 3)
    await store.close()


async def test_reads_do_not_wait_behind_a_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await Store.open(tmp_path / "jp.db", flush_interval=60)
    await store.add(result())
    await store.flush()
    real = store._write_sync

    def slow(batch: Any) -> float:
        time.sleep(0.5)
        return real(batch)

    monkeypatch.setattr(store, "_write_sync", slow)
    await store.add(result(at=T0 + 1))
    writing = asyncio.create_task(store.flush())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert len(await store.runs("checkout")) == 1  # the slow batch is not committed yet
    assert time.monotonic() - started < 0.3
    await writing
    assert len(await store.runs("checkout")) == 2
    await store.close()


async def test_retention(tmp_path: Path) -> None:
    path = tmp_path / "jp.db"
    store = await Store.open(path, retention_s=3600)
    now = time.time()
    await store.add(result("a", now - 7200), {"s": True})
    await store.add(result("a", now - 60), {"s": True})
    await store.add(result("b", now - 5000), {"s": False})
    await store.flush()
    assert await store.prune(now) == 2
    assert await store.run_count() == 1
    assert await store.journey_names() == ["a"]
    assert await store.minute_counts("s", "a", 0, 2**40) == [(int((now - 60) // 60), 1, 1, 0)]
    assert await store.minute_counts("s", "b", 0, 2**40) == []
    assert await store.minute_counts("", "a", 0, 2**40) == [(int((now - 60) // 60), 1, 1, 0)]
    await store.close()
    # opening prunes at once (a daemon restarted after a long stop)
    store = await Store.open(path, retention_s=30)
    assert await store.run_count() == 0
    await store.close()


async def test_run_retention_shorter_than_count_retention(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db", retention_s=10 * 3600, run_retention_s=3600)
    now = time.time()
    await store.add(result("a", now - 7200), {"s": True})
    await store.add(result("a", now - 60), {"s": False})
    await store.flush()
    assert await store.prune(now) == 1
    [kept] = await store.runs("a")
    assert datetime.fromisoformat(kept["started_at"].replace("Z", "+00:00")).timestamp() > now - 3600
    counts = await store.minute_counts("s", "a", 0, 2**40)  # the SLO's counts stay for the longer retention
    assert counts == [(int((now - 7200) // 60), 1, 1, 0), (int((now - 60) // 60), 0, 1, 0)]
    await store.close()


async def test_wal_and_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "jp.db"
    store = await Store.open(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.add(result(), {"avail": True})
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.add(result())
    store = await Store.open(path, retention_s=float("inf"))
    assert [d["journey"] for d in await store.runs("checkout")] == ["checkout"]
    assert await store.minute_counts("avail", "checkout", 0, 2**40) == [(int(T0 // 60), 1, 1, 0)]
    await store.close()


async def test_close_flushes_pending(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db", flush_interval=60, retention_s=float("inf"))
    for i in range(7):
        await store.add(result(at=T0 + i))
    await store.close()
    store = await Store.open(tmp_path / "jp.db", retention_s=float("inf"))
    assert await store.run_count() == 7
    await store.close()


async def test_memory_store() -> None:
    store = await Store.open(":memory:", retention_s=float("inf"))
    await store.add(result())
    await store.flush()
    assert await store.run_count() == 1
    await store.put_alert_state("s", "page", "firing", T0, None, {})
    assert (await store.get_alert_states())[("s", "page")]["state"] == "firing"
    await store.close()


async def test_alert_state_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jp.db"
    store = await Store.open(path)
    await store.put_alert_state("checkout-avail", "page", "firing", T0, T0 + 5,
                                {"burn_rates": {"1h": 14.6, "5m": 20.1}, "windows": ["1h", "5m"]})
    await store.put_alert_state("checkout-avail", "ticket", "pending", T0, None, {})
    await store.put_alert_state("checkout-avail", "ticket", "ok", T0 + 60, None, {"note": "resolved"})
    await store.close()  # nothing batched: written at once
    store = await Store.open(path)
    assert await store.get_alert_states() == {
        ("checkout-avail", "page"): {"state": "firing", "since": T0, "last_notified": T0 + 5,
                                     "details": {"burn_rates": {"1h": 14.6, "5m": 20.1},
                                                 "windows": ["1h", "5m"]}},
        ("checkout-avail", "ticket"): {"state": "ok", "since": T0 + 60, "last_notified": None,
                                       "details": {"note": "resolved"}},
    }
    await store.close()


# -- migrations ----------------------------------------------------------------------------

async def test_migrates_an_older_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "jp.db"
    store = await Store.open(path, retention_s=float("inf"))
    await store.add(result())
    await store.close()
    known = len(store_schema.MIGRATIONS)
    monkeypatch.setattr(store_schema, "MIGRATIONS", [
        *store_schema.MIGRATIONS,
        "ALTER TABLE runs ADD COLUMN note TEXT; -- a comment; with semicolons\n"
        "CREATE TABLE extra (k TEXT PRIMARY KEY, v TEXT DEFAULT 'a;b');"])
    store = await Store.open(path, retention_s=float("inf"))
    assert await store.run_count() == 1
    await store.close()
    with sqlite3.connect(path) as raw:
        assert store_schema.schema_version(raw) == known + 1
        assert "note" in [r[1] for r in raw.execute("PRAGMA table_info(runs)")]
        raw.execute("INSERT INTO extra (k) VALUES ('x')")
        assert raw.execute("SELECT v FROM extra").fetchone()[0] == "a;b"


async def test_a_failing_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "jp.db"
    await (await Store.open(path)).close()
    known = len(store_schema.MIGRATIONS)
    monkeypatch.setattr(store_schema, "MIGRATIONS", [
        *store_schema.MIGRATIONS, "CREATE TABLE half (a); SELECT no_such_column FROM runs;"])
    with pytest.raises(StoreError):
        await Store.open(path)
    with sqlite3.connect(path) as raw:
        assert store_schema.schema_version(raw) == known
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


async def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jp.db"
    await (await Store.open(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreVersionError) as info:
        await Store.open(path)
    known = len(store_schema.MIGRATIONS)
    assert str(info.value) == (f"{path}: written by a newer journeyprobe (schema 99, this one knows "
                               f"{known}): upgrade, or point storage.path elsewhere")


async def test_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "jp.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StoreError, match=re.escape(str(path))):
        await Store.open(path)


# -- the event loop and crashes --------------------------------------------------------------

async def test_a_big_batch_does_not_block_the_event_loop(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jp.db", batch_size=20_000, flush_interval=60)
    batch = [result(f"j{i % 20}", T0 + i, steps=3, trace=f"{i:032x}") for i in range(20_000)]
    for r in batch[:-1]:
        await store.add(r, {"avail": r.passed})
    gaps: list[float] = []
    stop = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    gaps.clear()
    started = time.monotonic()
    await store.add(batch[-1])  # the 20,000th add wakes the writer: one batch of 20,000
    await store.flush()
    took = time.monotonic() - started
    stop.set()
    await ticker
    assert store.batches == 1 and await store.run_count() == 20_000
    print(f"\n20,000-run batch committed in {took:.2f}s; event loop max gap {max(gaps) * 1000:.1f} ms "
          f"over {len(gaps)} ticks")
    # A blocked loop would tick once for the whole commit; a free one ticks about every 10 ms.
    # Generous bounds: CI machines are shared, so a stall of a few hundred ms can come from elsewhere.
    assert len(gaps) >= 0.25 * took / 0.01
    assert max(gaps) < min(0.5, took / 2)
    await store.close()


def test_kill_9_loses_at_most_one_batch(tmp_path: Path) -> None:
    batch_size, flush_interval = 50, 0.2
    for round_, kill_at in enumerate((300, 433, 517)):
        path = tmp_path / f"crash{round_}.db"
        added, committed = kill_child(path, kill_at, batch_size, flush_interval)
        stored, integrity = stored_runs(path)
        lost = added - stored
        print(f"\nkill -9 round {round_}: added {added}, child saw {committed} committed, "
              f"stored {stored}, lost {lost} (batch_size {batch_size}, flush_interval {flush_interval}s)")
        assert integrity == "ok"
        assert committed <= stored <= added
        assert 0 <= lost <= batch_size


def kill_child(path: Path, kill_at: int, batch_size: int, flush_interval: float) -> tuple[int, int]:
    """Run the child, SIGKILL it once it has added `kill_at` results; (added, last seen committed)."""
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path), "5000", "0.005", str(batch_size),
                             str(flush_interval)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    added = committed = 0
    try:
        while added < kill_at:
            line = lines.get(timeout=20)
            assert line is not None, "the child ended early"
            word, n = line.split()
            if word == "adding":
                added = int(n)
            elif word == "committed":
                committed = int(n)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    while (line := lines.get_nowait() if not lines.empty() else None) is not None:
        word, n = line.split()
        if word == "adding":
            added = max(added, int(n))
        elif word == "committed":
            committed = max(committed, int(n))
    assert proc.returncode == -signal.SIGKILL
    return added, committed


def stored_runs(path: Path) -> tuple[int, str]:
    async def count() -> int:
        store = await Store.open(path, retention_s=float("inf"))
        try:
            return await store.run_count()
        finally:
            await store.close()

    stored = asyncio.run(count())
    with sqlite3.connect(path) as raw:
        return stored, raw.execute("PRAGMA integrity_check").fetchone()[0]


async def wait_for(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
