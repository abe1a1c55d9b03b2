"""The SQLite result store against upgrades, files it cannot use, a huge batch and kill -9."""

from __future__ import annotations

import asyncio
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.store import schema as store_schema
from agent.store.sqlite import Store, StoreError, StoreVersionError
from tests.store_helpers import T0, result

CHILD = Path(__file__).with_name("store_crash_child.py")


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
    real = store._write_sync
    loop = asyncio.get_running_loop()
    writing = asyncio.Event()
    loop_ran = threading.Event()
    seen_during_write: list[bool] = []

    def watched(items: Any) -> float:
        """The real commit; before returning, wait (bounded) for the loop to show it ran meanwhile."""
        loop.call_soon_threadsafe(writing.set)
        try:
            return real(items)
        finally:
            seen_during_write.append(loop_ran.wait(timeout=10))

    async def bystander() -> None:
        await writing.wait()
        loop_ran.set()  # the loop ran this coroutine while the batch was being written

    store._write_sync = watched  # type: ignore[method-assign]
    running = asyncio.create_task(bystander())
    await store.add(batch[-1])  # the 20,000th add wakes the writer: one batch of 20,000
    await store.flush()
    await asyncio.wait_for(running, 10)
    assert seen_during_write == [True], "the event loop was blocked while the batch was written"
    assert store.batches == 1 and await store.run_count() == 20_000
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
