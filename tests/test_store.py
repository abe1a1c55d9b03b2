"""The SQLite result store: real files under tmp_path, RunResults built in code.

Writing, reading, batching, the writer, retention, reopening and alert state; migrations, files it refuses,
the event loop and kill -9 are in test_store_resilience.py.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.probe.result import AttemptSummary, ErrorType, Outcome, Phases, RunResult, StepResult
from agent.store.sqlite import Store, StoreError
from tests.store_helpers import T0, result


async def test_commits_are_durable_wal_with_synchronous_normal_or_stronger(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL: a committed batch survives a process crash and, on power loss, at most
    the last commits go (docs/daemon.md). synchronous=OFF would risk a corrupt file on power loss."""
    store = await Store.open(tmp_path / "s.db")
    try:
        mode, synchronous = await store.durability()
    finally:
        await store.close()
    assert mode == "wal"
    assert synchronous >= 1, f"PRAGMA synchronous = {synchronous} (0 is OFF)"


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
    before = time.monotonic()
    for i in range(1000):
        await store.add(result(at=T0 + i))
    assert store.pending == 1000 and store.written == 0
    await store.flush()
    assert (store.written, store.batches, store.pending) == (1000, 10, 0)
    assert await store.run_count() == 1000
    assert 0 <= store.last_flush_lag_s <= time.monotonic() - before  # the age of the last batch's oldest
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
    loop = asyncio.get_running_loop()
    writing = asyncio.Event()
    release = threading.Event()

    def held(batch: Any) -> float:
        """A write that does not end until the test says so."""
        loop.call_soon_threadsafe(writing.set)
        if not release.wait(timeout=30):
            raise sqlite3.OperationalError("the test never released the write")
        return real(batch)

    monkeypatch.setattr(store, "_write_sync", held)
    await store.add(result(at=T0 + 1))
    flushing = asyncio.create_task(store.flush())
    try:
        await asyncio.wait_for(writing.wait(), 10)
        # the write is held on its thread: a read that queued behind it would never answer
        read = await asyncio.wait_for(store.runs("checkout"), 10)
        assert len(read) == 1  # the held batch is not committed yet
        assert not flushing.done()
    finally:
        release.set()
    await flushing
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


async def wait_for(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
