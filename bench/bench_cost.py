"""Cost of one check: journeyprobe's Runner against blackbox_exporter and a bare aiohttp loop.

    .venv/bin/python bench/bench_cost.py --checks 2000 --concurrency 10 --rounds 3

N single-step HTTP GETs of a local aiohttp target (bench/target.py, its own process) with a fresh
connection per check, as all of them do by default, `--concurrency` at once. Each contender runs in
its own process and only that process's CPU (utime + stime, all threads) is counted, from after a
warm-up to the end of the N checks; start-up is left out for all of them:

  journeyprobe            `Runner().run(journey)`, a one-step journey (`expect: status == 200`):
                          what `journeyprobe check` pays per journey
  journeyprobe+telemetry  the same with the daemon's telemetry: spans and metrics (Prometheus reader)
  journeyprobe+daemon     + the SQLite store and the per-run log line: all the daemon does per run
                          except scheduling (bench_daemon.py measures that too)
  aiohttp (bare)          `async with ClientSession() as s: async with s.get(url) as r: await r.read()`
                          per check: the floor of a Python agent that opens a connection per check
  blackbox_exporter       `GET /probe?target=URL&module=http_2xx` (prober: http), driven from this
                          process through one keep-alive session, as Prometheus scrapes it; its CPU
                          read from /proc/<pid>/stat

Rounds run all contenders back to back (order rotated each round), so the ratios of one round
saw the same machine load; the table gives each round's ratios and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PY,
    at_concurrency,
    blackbox_process,
    fmt,
    journey_dict,
    machine,
    print_table,
    probe_duration,
    proc_cpu_s,
    ratio,
    round_robin_check,
    target_process,
    write_json,
)
from _probes import GcTimer

CONTENDERS = (
    "journeyprobe",
    "journeyprobe+telemetry",
    "journeyprobe+daemon",
    "aiohttp (bare)",
    "blackbox_exporter",
)
WORKER_KINDS = {
    "journeyprobe": "runner",
    "journeyprobe+telemetry": "telemetry",
    "journeyprobe+daemon": "daemon",
    "aiohttp (bare)": "bare",
}


# -- the worker: one contender in its own process ------------------------------------------------------
async def worker(
    kind: str,
    url: str,
    checks: int,
    concurrency: int,
    warmup: int,
    max_seconds: float,
    profile: str | None,
    gc_mode: str = "default",
) -> dict[str, Any]:
    one, close = await _contender(kind, url, concurrency)
    await at_concurrency(warmup, concurrency, one, max_seconds)
    profiler: Any = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    gc_time = GcTimer()
    if gc_mode == "freeze":
        gc.freeze()  # what the agent could do after start-up: long-lived objects out of every collection
    elif gc_mode == "off":
        gc.disable()
    cpu0 = time.process_time()
    done, ok, wall = await at_concurrency(checks, concurrency, one, max_seconds)
    await close()
    cpu = time.process_time() - cpu0
    gc_time.stop()
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        await asyncio.to_thread(Path(profile).write_text, text)
    return {
        "kind": kind,
        "checks": done,
        "ok": ok,
        "wall_s": wall,
        "cpu_s": cpu,
        "gc": gc_time.totals(),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


async def _contender(kind: str, url: str, concurrency: int) -> tuple[Any, Any]:
    if kind == "bare":
        import aiohttp

        async def bare() -> bool:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                await response.read()
                return response.status == 200

        async def nothing() -> None:
            return None

        return bare, nothing

    from agent.journey.model import Journey
    from agent.probe.context import ProbeSettings
    from agent.probe.runner import Runner

    journeys = [
        Journey.model_validate(journey_dict(f"cost-{i:03d}", url, slo=kind == "daemon"))
        for i in range(concurrency)
    ]
    runner = Runner(ProbeSettings(location="bench"))
    sinks: list[Any] = []
    closers: list[Any] = []
    if kind in ("telemetry", "daemon"):
        from exporters.telemetry import Telemetry

        telemetry = Telemetry(location="bench", prometheus=True)
        runner.observer_factory = telemetry.observer
        sinks.append(telemetry.record)
        closers.append(telemetry.aclose)
    store: Any = None
    if kind == "daemon":

        from agent.daemon.logs import log_run, setup_logging
        from agent.store.sqlite import Store

        tmp = tempfile.mkdtemp(prefix="jp-bench-cost-")
        log_file = await asyncio.to_thread(open, os.path.join(tmp, "agent.log"), "w")
        setup_logging("text", "info", stream=log_file)
        store = await Store.open(os.path.join(tmp, "store.db"))
        sinks.append(lambda result, journey: log_run(result))
        closers.insert(0, store.close)

    check = round_robin_check(runner, journeys, store, sinks)

    async def close() -> None:
        for closer in closers:
            await closer()

    return check, close


# -- blackbox, driven from this process ----------------------------------------------------------------
async def drive_blackbox(
    base: str, pid: int, url: str, checks: int, concurrency: int, warmup: int, max_seconds: float
) -> dict[str, Any]:
    import aiohttp
    from yarl import URL

    probe = URL(f"{base}/probe").with_query({"target": url, "module": "http_2xx"})
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one() -> bool:
            async with session.get(probe) as response:
                _, success = probe_duration(await response.text())
                return success

        await at_concurrency(warmup, concurrency, one, max_seconds)
        cpu0 = proc_cpu_s(pid)
        done, ok, wall = await at_concurrency(checks, concurrency, one, max_seconds)
        cpu = proc_cpu_s(pid) - cpu0
    return {"kind": "blackbox", "checks": done, "ok": ok, "wall_s": wall, "cpu_s": cpu}


def run_worker(kind: str, url: str, args: argparse.Namespace, profile: str | None = None) -> dict[str, Any]:
    command = [
        PY,
        __file__,
        "--worker",
        kind,
        "--url",
        url,
        "--checks",
        str(args.checks),
        "--concurrency",
        str(args.concurrency),
        "--warmup",
        str(args.warmup),
        "--max-seconds",
        str(args.max_seconds),
    ]
    if profile:
        command += ["--profile", profile]
    out = subprocess.run(command, capture_output=True, text=True, timeout=args.max_seconds * 2 + 120)
    if out.returncode != 0:
        raise RuntimeError(f"worker {kind} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def derive(raw: dict[str, Any]) -> dict[str, Any]:
    checks = raw["checks"] or 1
    return {
        **raw,
        "checks_per_s": round(raw["checks"] / raw["wall_s"], 1),
        "cpu_ms_per_check": round(raw["cpu_s"] / checks * 1e3, 4),
        "success_ratio": round(raw["ok"] / checks, 4),
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    contenders = [c for c in CONTENDERS if c in args.contenders]
    rounds: list[dict[str, dict[str, Any]]] = []
    with target_process() as (target, base), blackbox_process() as blackbox:
        url = f"{base}/ok"
        target_cpu0 = proc_cpu_s(target.pid)
        for number in range(args.rounds):
            shift = number % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            this: dict[str, dict[str, Any]] = {}
            for name in order:
                if name == "blackbox_exporter":
                    if blackbox is None:
                        continue
                    proc, bbase = blackbox
                    raw = asyncio.run(
                        drive_blackbox(
                            bbase, proc.pid, url, args.checks, args.concurrency, args.warmup, args.max_seconds
                        )
                    )
                else:
                    raw = run_worker(WORKER_KINDS[name], url, args)
                this[name] = derive(raw)
                print(
                    f"round {number + 1} {name:<24} {this[name]['checks_per_s']:>8.1f} checks/s "
                    f"{this[name]['cpu_ms_per_check']:.3f} ms CPU/check",
                    file=sys.stderr,
                )
            rounds.append(this)
        target_cpu = proc_cpu_s(target.pid) - target_cpu0
    result: dict[str, Any] = {
        "bench": "cost",
        "machine": machine(),
        "checks": args.checks,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "rounds": rounds,
        "blackbox": blackbox is not None,
        "target_cpu_s": round(target_cpu, 2),
    }
    result["median"] = {
        name: {
            key: statistics.median(r[name][key] for r in rounds if name in r)
            for key in ("checks_per_s", "cpu_ms_per_check", "success_ratio")
        }
        for name in contenders
        if any(name in r for r in rounds)
    }
    pairs: dict[str, dict[str, Any]] = {}
    for other in ("blackbox_exporter", "aiohttp (bare)"):
        for mine in ("journeyprobe", "journeyprobe+telemetry", "journeyprobe+daemon"):
            per_round = [
                {
                    "cpu_per_check": ratio(r[mine]["cpu_ms_per_check"], r[other]["cpu_ms_per_check"]),
                    "checks_per_s": ratio(r[mine]["checks_per_s"], r[other]["checks_per_s"]),
                }
                for r in rounds
                if mine in r and other in r
            ]
            if per_round:
                pairs[f"{mine} / {other}"] = {
                    "per_round": per_round,
                    "cpu_per_check": statistics.median(p["cpu_per_check"] for p in per_round),  # type: ignore[misc]
                    "checks_per_s": statistics.median(p["checks_per_s"] for p in per_round),
                }  # type: ignore[misc]
    result["ratios"] = pairs
    return result


def report(result: dict[str, Any]) -> None:
    rows = []
    for name, med in result["median"].items():
        per_round = " ".join(fmt(r[name]["cpu_ms_per_check"], ".3f") for r in result["rounds"] if name in r)
        rows.append(
            [
                name,
                fmt(med["checks_per_s"], ".0f"),
                fmt(med["cpu_ms_per_check"], ".3f"),
                per_round,
                fmt(med["success_ratio"], ".1%"),
            ]
        )
    print_table(
        f"Cost of a check: {result['checks']} checks, concurrency {result['concurrency']}, fresh "
        f"connection each, median of {len(result['rounds'])} rounds",
        ["contender", "checks/s", "CPU ms/check", "CPU ms/check per round", "ok"],
        rows,
    )
    rows = []
    for pair, data in result["ratios"].items():
        per_round = " ".join(fmt(p["cpu_per_check"], ".2f") for p in data["per_round"])
        rows.append(
            [pair, fmt(data["cpu_per_check"], ".2f") + "x", per_round, fmt(data["checks_per_s"], ".2f") + "x"]
        )
    print_table(
        "Ratios, pair by pair (same round, back to back)",
        ["pair", "CPU/check", "per round", "checks/s"],
        rows,
    )
    if not result["blackbox"]:
        print("blackbox_exporter is not installed (apt-get install prometheus-blackbox-exporter): left out")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000, help="checks per contender and round")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap of one contender's loop")
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated subset of: " + ", ".join(CONTENDERS),
    )
    parser.add_argument("--out", help="JSON file to write (default bench/out/cost-<time>.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument(
        "--gc",
        default="default",
        choices=["default", "freeze", "off"],
        help="worker only: the collector as is, gc.freeze() after warm-up, or off",
    )
    args = parser.parse_args()
    args.checks = max(1, min(args.checks, 1_000_000))
    args.max_seconds = min(max(args.max_seconds, 1.0), 3600.0)
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if args.worker:
        result = asyncio.run(
            worker(
                args.worker,
                args.url,
                args.checks,
                args.concurrency,
                args.warmup,
                args.max_seconds,
                args.profile,
                args.gc,
            )
        )
        print(json.dumps(result))
        return
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}")
    result = bench(args)
    report(result)
    write_json("cost", result, args.out)


if __name__ == "__main__":
    main()
