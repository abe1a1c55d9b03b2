"""The embedded SQLite result store of the daemon: runs, per-minute SLO counts, alert state.

The event loop never waits on SQLite. `Store.add` only appends to a bounded in-memory queue;
a writer task hands batches to ONE dedicated writer thread that owns the write connection
and commits each batch in one transaction (runs inserted, `minute_counts` upserted). Reads
run on a second connection on their own thread, so they never queue behind a write batch,
and see only what is committed (the API serves only results already safe in the store).

Durability. The file is in WAL mode with synchronous=NORMAL: a committed batch survives a
crash of the process (kill -9, OOM kill); an OS crash or power cut may also lose the last
commits before a checkpoint. A kill -9 loses the results not yet committed: the batch in
flight plus what queued behind it. The writer takes a batch as soon as `batch_size` results
are queued or `flush_interval` seconds after the last batch, whichever comes first, so while
the disk keeps up the loss is at most `batch_size` runs or the runs of the last
`flush_interval` seconds (plus the few ms a commit takes), whichever is fewer. If the disk
falls behind, the queue grows up to `max_queue` results, and past that the oldest unwritten
results are dropped and counted in `dropped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from agent.core.clock import Clock, system_clock
from agent.probe.result import RunResult
from agent.store import schema as store_schema
from agent.store.queries import JOURNEYS_CTE, ReportQueries
from agent.store.rows import BatchItem, run_row, write_batch
from agent.store.schema import StoreError, StoreVersionError
from agent.store.watch import WatchedFile

__all__ = ["Store", "StoreError", "StoreVersionError"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_NO_VERDICTS: Mapping[str, bool | None] = MappingProxyType({})
_PRUNE_EVERY_S = 3600.0


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class Store(ReportQueries, WatchedFile):
    """Runs, per-minute SLO counts and alert state in one SQLite file. Create with `Store.open`.

    The file is watched (agent/store/watch.py): deleted or replaced while open, it is reopened at
    its path, and no batch goes to a file that is no longer there; `problem()` says why not meanwhile.
    """

    def __init__(self, path: str, *, retention_s: float, batch_size: int, flush_interval: float,
                 max_queue: int, run_retention_s: float | None = None, clock: Clock = system_clock) -> None:
        self.path = path
        self.clock = clock
        self.retention_s = retention_s
        # whole results may be kept for less time than the per-minute counts the SLOs read
        self.run_retention_s = min(retention_s, run_retention_s if run_retention_s is not None else retention_s)
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.max_queue = max(self.batch_size, max_queue)
        # counters
        self.written = 0
        self.dropped = 0
        self.batches = 0
        self.write_errors = 0
        self.unwritten = 0  # results left unwritten when the store closed
        self.last_flush_lag_s = 0.0
        self._queue: deque[BatchItem] = deque()
        self._in_flight = 0
        self._loop = asyncio.get_running_loop()
        self._wexec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jp-store-write")
        self._rexec = self._wexec
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()  # one drain at a time: the writer task's, or flush()'s
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._next_prune = time.monotonic() + _PRUNE_EVERY_S
        self._start_watch()

    @classmethod
    async def open(cls, path: str | Path, *, retention_s: float = 35 * 86400, batch_size: int = 200,
                   flush_interval: float = 0.5, max_queue: int = 10_000,
                   run_retention_s: float | None = None, clock: Clock = system_clock) -> Store:
        """Open (creating or migrating) the store at `path`; ":memory:" for a private one."""
        store = cls(str(path), retention_s=retention_s, batch_size=batch_size,
                    flush_interval=flush_interval, max_queue=max_queue, run_retention_s=run_retention_s,
                    clock=clock)
        try:
            await store._on_writer(store._open_writer)
            if store.path != ":memory:":
                store._rexec = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jp-store-read")
                store._rconn = await store._on_reader(_connect, store.path, readonly=True)
            else:
                store._rconn = store._wconn
            await store.prune()
        except BaseException:
            await store._shutdown()
            raise
        store._writer = asyncio.create_task(store._write_loop(), name="journeyprobe store writer")
        return store

    async def durability(self) -> tuple[str, int]:
        """(journal_mode, synchronous) of the writer's connection: ("wal", 1) is WAL with synchronous=NORMAL."""
        self._check_open()

        def read() -> tuple[str, int]:
            assert self._wconn is not None
            mode = self._wconn.execute("PRAGMA journal_mode").fetchone()[0]
            return str(mode), int(self._wconn.execute("PRAGMA synchronous").fetchone()[0])

        return await self._on_writer(read)

    # -- writing ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Results added but not yet committed (queued, plus the batch being written)."""
        return len(self._queue) + self._in_flight

    async def add(self, result: RunResult, slo_verdicts: Mapping[str, bool | None] = _NO_VERDICTS) -> None:
        """Queue a result for the next batch; never waits on I/O.

        `slo_verdicts`: SLO name -> True (good event), False (bad), None (excluded: agent-side).
        """
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        if "" in slo_verdicts:
            raise ValueError("an SLO name cannot be empty: '' is the journey's own count")
        if len(self._queue) >= self.max_queue:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("result store %s is behind: %d results dropped so far", self.path, self.dropped)
        self._queue.append((result, dict(slo_verdicts), time.monotonic(), run_row(result)))
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Commit everything queued now."""
        # shielded: a cancelled caller does not abandon a batch half-way
        await asyncio.shield(self._drain())

    async def close(self) -> None:
        """Flush, stop the writer, close the connections. Idempotent.

        A last batch that cannot be written (disk full, file gone) does not raise: the results
        left are counted in `unwritten` and logged in one line."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        why = ""
        try:
            if self._writer is not None:
                await self._writer
            await self._drain()
        except (sqlite3.Error, OSError) as exc:
            self.write_errors += 1
            why = f": {exc}"
        finally:
            self.unwritten = len(self._queue)
            if self._queue:
                log.error("result store %s closed with %d results not written%s", self.path, self.unwritten,
                          why or f" ({self.problem()})" if self.problem() else why)
            await self._shutdown()

    async def prune(self, now: float | None = None) -> int:
        """Delete runs and minute counts older than the retention; returns the runs deleted."""
        self._check_open()
        return await self._prune(now)

    async def _prune(self, now: float | None = None) -> int:
        now = self.clock() if now is None else now
        cutoff, run_cutoff = now - self.retention_s, now - self.run_retention_s
        if run_cutoff == float("-inf"):  # retention_s=inf: keep everything
            return 0
        async with self._lock:
            if not await self._file_ok():
                return 0
            deleted = await self._on_writer(self._prune_sync, cutoff, run_cutoff)
        if deleted:
            log.info("result store %s: pruned %d runs older than retention", self.path, deleted)
        return deleted

    async def put_alert_state(self, slo: str, severity: str, state: str, since: float | None,
                              last_notified: float | None, details: Mapping[str, Any]) -> None:
        """Write an alert's state now (not batched), so it does not re-fire after a restart."""
        self._check_open()
        row = (slo, severity, state, since, last_notified, json.dumps(dict(details), default=str))
        async with self._lock:
            if not await self._file_ok():
                raise StoreError(self.problem() or f"{self.path}: the store cannot be written")
            await self._on_writer(self._put_alert_sync, row)

    async def _write_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                await self._drain()
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + _PRUNE_EVERY_S
                    await self._prune()
                failures = 0
            except Exception as exc:
                failures += 1
                self.write_errors += 1
                if isinstance(exc, (sqlite3.OperationalError, OSError)):  # the disk, not a bug: no traceback
                    log.error("result store %s: write failed (%s; %d pending); retrying", self.path, exc,
                              self.pending)
                else:
                    log.exception("result store %s: write failed (%d pending); retrying", self.path, self.pending)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), min(30.0, 0.5 * 2 ** min(failures, 6)))

    def _pending_count(self) -> int:
        return self.pending

    async def _drain(self) -> None:
        async with self._lock:
            while await self._file_ok() and self._queue:
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.batch_size))]
                self._in_flight = len(batch)
                try:
                    lag = await self._on_writer(self._write_sync, batch)
                except BaseException:
                    self._requeue(batch)
                    raise
                finally:
                    self._in_flight = 0
                self.written += len(batch)
                self.batches += 1
                self.last_flush_lag_s = lag

    def _requeue(self, batch: list[BatchItem]) -> None:
        """Put a failed batch back in front; the bound still holds (oldest dropped)."""
        self._queue.extendleft(reversed(batch))
        while len(self._queue) > self.max_queue:
            self._queue.popleft()
            self.dropped += 1

    # -- threads ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")

    async def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._loop.run_in_executor(self._wexec, lambda: fn(*args))

    async def _on_reader(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._loop.run_in_executor(self._rexec, lambda: fn(*args, **kwargs))

    async def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        self._check_open()
        return await self._on_reader(self._query_sync, sql, params)

    def _query_sync(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._rconn is None:
            raise StoreError(self.problem() or f"{self.path}: the store is not open")
        return self._rconn.execute(sql, params).fetchall()

    def _open_writer(self) -> None:
        try:
            self._wconn = _connect(self.path)
            store_schema.migrate(self._wconn, self.path)
            self._remember_file()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the result store: {exc}") from exc

    def _open_reader(self) -> sqlite3.Connection:
        return _connect(self.path, readonly=True)

    def _write_sync(self, batch: list[BatchItem]) -> float:
        """Commit one batch; returns the age of its oldest result at commit."""
        assert self._wconn is not None
        with _transaction(self._wconn):
            write_batch(self._wconn, batch)
        return time.monotonic() - batch[0][2]

    def _put_alert_sync(self, row: tuple[Any, ...]) -> None:
        assert self._wconn is not None
        self._wconn.execute(
            "INSERT INTO alert_state (slo, severity, state, since, last_notified, details) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (slo, severity) DO UPDATE SET state = excluded.state, "
            "since = excluded.since, last_notified = excluded.last_notified, details = excluded.details",
            row)

    def _prune_sync(self, cutoff: float, run_cutoff: float) -> int:
        """Per journey (and SLO), so each DELETE is an index range, not a table scan."""
        conn = self._wconn
        assert conn is not None
        cutoff_minute = int(cutoff // 60)
        journeys = [r[0] for r in conn.execute(JOURNEYS_CTE + "SELECT name FROM j WHERE name IS NOT NULL")]
        pairs: list[tuple[str, str]] = []
        row = conn.execute("SELECT journey, slo FROM minute_counts ORDER BY journey, slo LIMIT 1").fetchone()
        while row is not None:
            pairs.append((row[0], row[1]))
            row = conn.execute("SELECT journey, slo FROM minute_counts WHERE (journey, slo) > (?, ?) "
                               "ORDER BY journey, slo LIMIT 1", row).fetchone()
        deleted = 0
        with _transaction(conn):
            for journey in journeys:
                deleted += conn.execute("DELETE FROM runs WHERE journey = ? AND started_at < ?",
                                        (journey, run_cutoff)).rowcount
            for journey, slo in pairs:
                conn.execute("DELETE FROM minute_counts WHERE journey = ? AND slo = ? AND minute < ?",
                             (journey, slo, cutoff_minute))
        return deleted

    async def _shutdown(self) -> None:
        """Close the connections on their own threads and stop the threads."""
        def close_reader() -> None:
            if self._rconn is not None and self._rconn is not self._wconn:
                self._rconn.close()
            self._rconn = None

        def close_writer() -> None:
            if self._wconn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._wconn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._wconn.close()
            self._wconn = None

        self._closed = True
        try:
            if self._rexec is not self._wexec:
                await self._on_reader(close_reader)
            await self._on_writer(close_writer)
        finally:
            self._rexec.shutdown(wait=False)
            self._wexec.shutdown(wait=False)
