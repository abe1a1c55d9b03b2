"""Scheduler precision: N journeys with a trivial run, start lateness, CPU per run, peak RSS.

    .venv/bin/python bench/bench_scheduler.py --journeys 1000 --interval 10 --seconds 60

Prints a table and writes JSON to bench/out/scheduler-<journeys>-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.daemon.scheduler import Scheduler
from agent.journey.model import Journey

OUT = Path(__file__).resolve().parent / "out"


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def bench(journeys: int, interval: float, seconds: float, concurrency: int,
                jitter: float) -> dict[str, Any]:
    async def execute(journey: Journey, scheduled_at: float) -> None:
        await asyncio.sleep(0)

    step = {"name": "s", "http": {"url": "http://127.0.0.1:1/"}}
    models = [Journey.model_validate({"name": f"bench-{i:05d}", "interval": interval, "steps": [step]})
              for i in range(journeys)]
    sched = Scheduler(execute, concurrency=concurrency, jitter=jitter)
    sched.update(models)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await sched.start()
    await asyncio.sleep(seconds)
    cancelled = await sched.drain(5.0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    runs = sched.started_total
    lateness = sorted(sched.lateness)
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "journeys": journeys, "interval_s": interval, "seconds": round(wall, 3), "concurrency": concurrency,
        "jitter": jitter, "runs": runs, "runs_per_s": round(runs / wall, 2),
        "expected_runs_per_s": round(journeys / interval, 2),
        "skipped": sched.skipped_total, "cancelled": cancelled,
        "lateness_ms": {"p50": percentile(lateness, 0.5) * 1e3, "p99": percentile(lateness, 0.99) * 1e3,
                        "max": (lateness[-1] if lateness else float("nan")) * 1e3,
                        "min": (lateness[0] if lateness else float("nan")) * 1e3, "samples": len(lateness)},
        "cpu_s": round(cpu, 3), "cpu_share_of_one_core": round(cpu / wall, 4),
        "cpu_us_per_run": round(cpu / runs * 1e6, 1) if runs else None,
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "loop": type(asyncio.get_running_loop()).__name__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (capped at 3600)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--jitter", type=float, default=0.0)
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 3600.0)
    result = asyncio.run(bench(args.journeys, args.interval, seconds, args.concurrency, args.jitter))
    late = result["lateness_ms"]
    rows = [
        ("journeys / interval", f"{result['journeys']} / {result['interval_s']:g}s"),
        ("wall seconds", f"{result['seconds']:.1f}"),
        ("runs (runs/s, expected)",
         f"{result['runs']} ({result['runs_per_s']:.1f}/s, {result['expected_runs_per_s']:.1f}/s)"),
        ("skipped / cancelled", f"{result['skipped']} / {result['cancelled']}"),
        ("start lateness p50", f"{late['p50']:.3f} ms"),
        ("start lateness p99", f"{late['p99']:.3f} ms"),
        ("start lateness max", f"{late['max']:.3f} ms"),
        ("CPU seconds (share of a core)", f"{result['cpu_s']:.2f} ({result['cpu_share_of_one_core']:.1%})"),
        ("CPU per run", f"{result['cpu_us_per_run']} µs"),
        ("peak RSS", f"{result['peak_rss_mib']} MiB"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"scheduler-{args.journeys}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
