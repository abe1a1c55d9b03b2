"""Benchmark of the SQLite result store: write throughput, bytes per run, SLO query time.

Plain script, bounded (a few seconds): `python bench/bench_store.py`. Files go to a
temporary directory that is removed afterwards.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.probe.result import ErrorType, Outcome, Phases, RunResult, StepResult
from agent.store.sqlite import Store

RUNS = 20_000
DAYS = 30
NOW = time.time() // 60 * 60


def make_result(i: int, at: float, journey: str) -> RunResult:
    """A typical 3-step HTTP run; one in 20 fails its last step."""
    ok = i % 20 != 0
    steps = tuple(
        StepResult(name=name, outcome=Outcome.SUCCESS if ok or n < 2 else Outcome.FAILURE,
                   duration_s=0.05 + n * 0.02, status=200 if ok or n < 2 else 503,
                   error=None if ok or n < 2 else "expected status == 200, saw 503",
                   error_type=None if ok or n < 2 else ErrorType.ASSERTION,
                   phases=Phases(0.001, 0.003, 0.008, 0.04, 0.002))
        for n, name in enumerate(("login", "cart", "checkout")))
    return RunResult(journey=journey, outcome=Outcome.SUCCESS if ok else Outcome.FAILURE,
                     started_at=datetime.fromtimestamp(at, UTC), duration_s=0.21,
                     trace_id=f"{i:032x}", location="tokyo-1",
                     error_type=None if ok else ErrorType.ASSERTION, steps=steps)


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int = 20) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


Batch = list[tuple[RunResult, dict[str, bool | None]]]


async def write(store: Store, results: Batch) -> tuple[float, float]:
    """Add all, flush; (seconds in all, seconds the event loop spent in add()).

    add() costs ~1 µs and a commit ~50 µs per run, so adding without pause would only fill the
    bounded queue and drop results: add in chunks within the queue and wait for the writer.
    """
    started = time.perf_counter()
    in_add = 0.0
    chunk = store.max_queue // 2
    for n, (result, verdicts) in enumerate(results, 1):
        t = time.perf_counter()
        await store.add(result, verdicts)
        in_add += time.perf_counter() - t
        if n % chunk == 0:
            await store.flush()
    await store.flush()
    assert store.dropped == 0, store.dropped
    return time.perf_counter() - started, in_add


async def main(tmp: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    # 1. 20,000 runs of 20 journeys, default batching
    path = tmp / "throughput.db"
    store = await Store.open(path)
    results: Batch = [(make_result(i, NOW - RUNS + i, f"journey-{i % 20}"), {"avail": i % 20 != 0})
               for i in range(RUNS)]
    took, in_add = await write(store, results)
    rows += [(f"write {RUNS:,} runs (batch_size {store.batch_size})", f"{RUNS / took:,.0f} runs/s"),
             ("  batches / last flush lag", f"{store.batches} / {store.last_flush_lag_s * 1000:.0f} ms"),
             ("  event loop time per add()", f"{in_add / RUNS * 1e6:.1f} µs")]
    rows.append(("runs(journey, limit=50)", f"{await timed(lambda: store.runs('journey-3')) * 1000:.2f} ms"))
    rows.append(("last_runs() over 20 journeys", f"{await timed(store.last_runs) * 1000:.2f} ms"))
    await store.close()  # checkpoints: the WAL is folded into the file
    per_1000 = store_bytes(path) / (RUNS / 1000) / 1024
    rows.append(("store bytes per 1,000 runs (file + wal)", f"{per_1000:,.0f} KiB"))

    # 2. 30 days of one run a minute, two SLOs: the per-minute SLO series
    path = tmp / "slo.db"
    store = await Store.open(path)
    minutes = DAYS * 1440
    results = [(make_result(i, NOW - (minutes - i) * 60, "checkout"),
                {"checkout-avail": i % 20 != 0, "checkout-latency": i % 50 != 0}) for i in range(minutes)]
    took, _ = await write(store, results)
    rows.append((f"write {minutes:,} runs, 1/min over {DAYS} days", f"{minutes / took:,.0f} runs/s"))
    now_minute = int(NOW // 60)
    for label, span in ((f"{DAYS} days", minutes), ("1 hour", 60)):
        series = await store.minute_counts("checkout-avail", "checkout", now_minute - span, now_minute + 1)
        secs = await timed(lambda span=span: store.minute_counts(   # type: ignore[misc]
            "checkout-avail", "checkout", now_minute - span, now_minute + 1))
        rows.append((f"minute_counts, one SLO, {label} ({len(series):,} rows)", f"{secs * 1000:.2f} ms"))
    secs = await timed(lambda: store.prune(), repeat=3)
    rows.append(("prune() with nothing to delete", f"{secs * 1000:.2f} ms"))
    await store.close()
    rows.append(("store bytes per 1,000 runs (30-day file)",
                 f"{store_bytes(path) / (minutes / 1000) / 1024:,.0f} KiB"))
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="jp-bench-store-") as tmp:
        table = asyncio.run(main(Path(tmp)))
    width = max(len(k) for k, _ in table)
    print(f"{'journeyprobe result store (SQLite, WAL)':<{width}}  value")
    print("-" * (width + 16))
    for key, value in table:
        print(f"{key:<{width}}  {value}")
