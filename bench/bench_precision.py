"""Precision of a step's duration: measured minus the server's true delay, next to curl and blackbox.

    .venv/bin/python bench/bench_precision.py --delays 100,500 --samples 30

The target (bench/target.py, its own process) answers `/delay?ms=N` after exactly N ms (asyncio
sleep, then a busy wait for the last 2 ms). One request at a time, a fresh connection each, and the
tools interleaved sample by sample so that they share the machine's load:

  journeyprobe       `step.duration_s` of a one-step journey run by `Runner` in this process
  aiohttp (bare)     perf_counter around ClientSession() + GET + read, in this process
  curl               `curl -s -o /dev/null -w '%{time_total}' URL` (its own process)
  blackbox_exporter  `probe_duration_seconds` of `/probe?module=http_2xx` (prober: http)

Error = measured - delay; the table gives its median and p95 per tool, and journeyprobe's median
error minus curl's (the target: within 0.5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from _common import (
    blackbox_process,
    curl_write_out,
    fmt,
    journey_dict,
    machine,
    percentile,
    print_table,
    probe_duration,
    target_process,
    write_json,
)
from yarl import URL

from agent.journey.model import Journey
from agent.probe.context import ProbeSettings
from agent.probe.runner import Runner

TOOLS = ("journeyprobe", "aiohttp (bare)", "curl", "blackbox_exporter")
Measure = Callable[[str], Awaitable[float | None]]


def measurers(bbase: str | None) -> dict[str, Measure]:
    runner = Runner(ProbeSettings(location="bench"))

    async def journeyprobe(url: str) -> float | None:
        result = await runner.run(Journey.model_validate(journey_dict("precision", url)))
        return result.steps[0].duration_s if result.passed else None

    async def bare(url: str) -> float | None:
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            await response.read()
        took = time.perf_counter() - started
        return took if response.status == 200 else None

    async def curl(url: str) -> float | None:
        total, code = (await curl_write_out(url, "%{time_total} %{http_code}")).split()
        return float(total) if code == "200" else None

    out: dict[str, Measure] = {"journeyprobe": journeyprobe, "aiohttp (bare)": bare}
    if shutil.which("curl"):
        out["curl"] = curl
    if bbase is not None:
        session_box: list[aiohttp.ClientSession] = []

        async def blackbox(url: str) -> float | None:
            if not session_box:
                session_box.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
            probe = URL(f"{bbase}/probe").with_query({"target": url, "module": "http_2xx"})
            async with session_box[0].get(probe) as response:
                duration, success = probe_duration(await response.text())
            return duration if success else None

        blackbox.session_box = session_box  # type: ignore[attr-defined]
        out["blackbox_exporter"] = blackbox
    return out


async def measure(
    base: str, bbase: str | None, delays_ms: list[int], samples: int, warmup: int, max_seconds: float
) -> dict[str, Any]:
    tools = measurers(bbase)
    deadline = time.monotonic() + max_seconds
    errors: dict[int, dict[str, list[float]]] = {d: {name: [] for name in tools} for d in delays_ms}
    failed: dict[str, int] = dict.fromkeys(tools, 0)
    try:
        for delay in delays_ms:
            url = f"{base}/delay?ms={delay}"
            for i in range(warmup + samples):
                if time.monotonic() > deadline:
                    break
                names = list(tools)
                names = names[i % len(names) :] + names[: i % len(names)]  # rotate who goes first
                for name in names:
                    took = await tools[name](url)
                    if took is None:
                        failed[name] += 1
                    elif i >= warmup:
                        errors[delay][name].append(took - delay / 1000.0)
    finally:
        box = getattr(tools.get("blackbox_exporter"), "session_box", None)
        if box:
            await box[0].close()
    table: dict[str, dict[str, Any]] = {}
    for delay, by_tool in errors.items():
        row: dict[str, Any] = {}
        for name, values in by_tool.items():
            row[name] = {
                "median_ms": round(statistics.median(values) * 1e3, 3) if values else None,
                "p95_ms": round(percentile(values, 0.95) * 1e3, 3) if values else None,
                "min_ms": round(min(values) * 1e3, 3) if values else None,
                "n": len(values),
            }
        jp, curl = row.get("journeyprobe", {}).get("median_ms"), row.get("curl", {}).get("median_ms")
        both = jp is not None and curl is not None
        row["journeyprobe_minus_curl_ms"] = round(jp - curl, 3) if both else None
        table[str(delay)] = row
    return {"errors": table, "failed": failed, "tools": list(tools)}


def report(result: dict[str, Any]) -> None:
    rows = []
    for delay, row in result["errors"].items():
        for name in result["tools"]:
            cell = row[name]
            rows.append(
                [
                    f"{delay} ms",
                    name,
                    fmt(cell["median_ms"], ".3f"),
                    fmt(cell["p95_ms"], ".3f"),
                    fmt(cell["min_ms"], ".3f"),
                    cell["n"],
                ]
            )
    print_table(
        f"Duration error (measured - true delay), ms; {result['samples']} samples per tool and "
        "delay, one at a time, fresh connection each",
        ["delay", "tool", "median", "p95", "min", "n"],
        rows,
    )
    rows = [
        [f"{d} ms", fmt(row["journeyprobe_minus_curl_ms"], "+.3f", " ms")]
        for d, row in result["errors"].items()
    ]
    print_table(
        "journeyprobe's median error minus curl's (target: within 0.5 ms)", ["delay", "difference"], rows
    )
    if "blackbox_exporter" not in result["tools"]:
        print("blackbox_exporter is not installed: left out")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="100,500", help="comma-separated delays, ms")
    parser.add_argument("--samples", type=int, default=30, help="samples per tool and delay")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop sampling after this long")
    parser.add_argument("--out", help="JSON file to write (default bench/out/precision-<time>.json)")
    args = parser.parse_args()
    delays = [min(max(int(d), 0), 5000) for d in args.delays.split(",") if d.strip()]
    samples = max(1, min(args.samples, 10_000))
    with target_process() as (_, base), blackbox_process() as blackbox:
        result = asyncio.run(
            measure(
                base,
                blackbox[1] if blackbox else None,
                delays,
                samples,
                max(0, args.warmup),
                min(args.max_seconds, 3600.0),
            )
        )
    result = {"bench": "precision", "machine": machine(), "delays_ms": delays, "samples": samples, **result}
    report(result)
    write_json("precision", result, args.out)


if __name__ == "__main__":
    main()
