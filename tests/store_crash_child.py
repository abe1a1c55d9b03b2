"""Child process of the kill -9 test: adds results to a store at a steady rate until killed.

Usage: store_crash_child.py DB COUNT INTERVAL_S BATCH_SIZE FLUSH_INTERVAL_S

Prints `adding N` just before the N-th add (so the parent's count of added results is never
short), and `committed N` whenever the store's committed count changes.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.probe.result import Outcome, RunResult, StepResult
from agent.store.sqlite import Store


async def main(db: str, count: int, interval: float, batch_size: int, flush_interval: float) -> None:
    store = await Store.open(db, batch_size=batch_size, flush_interval=flush_interval)
    start = datetime.now(UTC)
    committed = 0
    for i in range(count):
        result = RunResult(
            journey=f"j{i % 3}", outcome=Outcome.SUCCESS if i % 7 else Outcome.FAILURE,
            started_at=start + timedelta(milliseconds=i), duration_s=0.1, trace_id=f"{i:032x}",
            steps=(StepResult(name="get", outcome=Outcome.SUCCESS, duration_s=0.05, status=200),))
        print(f"adding {i + 1}", flush=True)
        await store.add(result, {"avail": result.passed})
        if store.written != committed:
            committed = store.written
            print(f"committed {committed}", flush=True)
        await asyncio.sleep(interval)
    await store.close()
    print("done", flush=True)


if __name__ == "__main__":
    db, count, interval, batch_size, flush_interval = sys.argv[1:6]
    asyncio.run(main(db, int(count), float(interval), int(batch_size), float(flush_interval)))
