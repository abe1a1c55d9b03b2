"""Measurements taken inside the process under test: GC pauses, event-loop stalls, CPU by thread,
the store's size on disk and a /metrics scrape (by curl, in its own process).

`GcTimer` is the cost worker's (bench_cost.py); the rest is bench_daemon.py's.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import Any

from _common import CLK_TCK, curl_write_out


class GcTimer:
    """Time spent in the cyclic garbage collector, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.counts[info["generation"]] += 1

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def totals(self) -> dict[str, Any]:
        return {
            "seconds": round(sum(self.seconds), 4),
            "by_generation_s": [round(s, 4) for s in self.seconds],
            "collections": self.counts,
        }


class Stalls:
    """What stands in the way of punctuality: event-loop stalls and garbage-collector pauses.

    A task sleeps `tick` seconds and notes how late it wakes, with the CPU this process used
    meanwhile (CPU close to the stall: the process was busy; far below: the OS ran others).
    `gc.callbacks` time every collection, by generation.
    """

    def __init__(self, tick: float = 0.01) -> None:
        self.tick = tick
        self.stalls: list[tuple[float, float, float]] = []  # (at s, stall ms, CPU ms meanwhile)
        self.gc: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}  # (wall s, CPU s)
        self._gc_started = (0.0, 0.0)
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = (time.perf_counter(), time.thread_time())
        else:
            wall, cpu = self._gc_started
            self.gc[info["generation"]].append((time.perf_counter() - wall, time.thread_time() - cpu))

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            cpu, before = time.process_time(), loop.time()
            await asyncio.sleep(self.tick)
            late = loop.time() - before - self.tick
            if late > 0.02:
                self.stalls.append(
                    (
                        round(time.perf_counter() - self._t0, 2),
                        round(late * 1e3, 1),
                        round((time.process_time() - cpu) * 1e3, 1),
                    )
                )

    def start(self) -> None:
        self._t0 = time.perf_counter()
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._watch())

    def stop(self) -> dict[str, Any]:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
        worst = sorted(self.stalls, key=lambda s: -s[1])[:10]
        return {
            "loop_stalls_over_20ms": len(self.stalls),
            "loop_stall_ms_total": round(sum(s[1] for s in self.stalls), 1),
            "loop_stall_cpu_ms_total": round(sum(min(s[1], s[2]) for s in self.stalls), 1),
            "worst_stalls": [{"at_s": a, "stall_ms": b, "cpu_ms": c} for a, b, c in worst],
            "gc": {
                str(g): {
                    "count": len(v),
                    "total_ms": round(sum(w for w, _ in v) * 1e3, 1),
                    "max_ms": round(max((w for w, _ in v), default=0.0) * 1e3, 1),
                    "cpu_total_ms": round(sum(c for _, c in v) * 1e3, 1),
                    "cpu_max_ms": round(max((c for _, c in v), default=0.0) * 1e3, 1),
                }
                for g, v in self.gc.items()
            },
        }


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's live threads, summed by Python thread name (/proc/self/task)."""
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            text = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        name = thread.name.split(" (")[0].rstrip("0123456789_-") or thread.name
        out[name] = round(out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK, 2)
    return out


def store_bytes(path: Path) -> int:
    """Size of the SQLite store with its -wal and -shm files."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


async def scrape(url: str) -> int:
    """GET /metrics with curl (its own process: the scrape's client CPU is not the agent's)."""
    return int(await curl_write_out(url, "%{size_download}") or 0)
