"""The real daemon under load: N one-step HTTP journeys on an interval, for a few minutes.

    .venv/bin/python bench/bench_daemon.py --journeys 1000 --interval 10 --seconds 180

The agent is `agent.daemon.lifecycle.Daemon`, in this process, as `journeyprobe run` builds it: journeys
loaded from N YAML files, the SQLite store, telemetry (Prometheus reader on, the default), the
server, the journey-file watcher, one log line per run (to a file, as stderr sent to a journal
would be), the SLO engine. Each journey has one SLO (28d; --no-slo: none). The target is
bench/target.py in its own process, so its CPU is not counted as the agent's; /metrics is
scraped every --scrape-every seconds by a curl process, as Prometheus would.

Reports start lateness (p50/p99/max, all runs and after the first interval), runs per second,
skipped runs, CPU seconds per run of this process (all threads, from after start to before
stop), peak RSS, and the store's size per 1,000 runs after closing it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from _common import (
    fmt,
    journey_dict,
    machine,
    print_table,
    proc_cpu_s,
    proc_status_kib,
    summary_ms,
    target_process,
    write_json,
)
from _probes import Stalls, scrape, store_bytes, thread_cpu

FIXES = ("gc-freeze", "fast-scan", "metrics-thread")
"""Proposed fixes this bench can emulate (--fix), to measure them before they are applied."""


def apply_fixes(fixes: list[str]) -> None:
    """Patch the agent in this process as the proposed fixes would change it (docs/benchmarks.md)."""
    if "fast-scan" in fixes:
        import glob
        import os

        from agent.daemon import lifecycle as daemon_module

        def scan(self: Any) -> dict[str, float]:
            out: dict[str, float] = {}
            for text in self.journey_paths:
                names = (
                    [e.path for e in os.scandir(text) if e.name.endswith((".yaml", ".yml"))]
                    if os.path.isdir(text)
                    else sorted(glob.glob(text, recursive=True))
                )
                for name in names:
                    try:
                        out[name] = os.stat(name).st_mtime
                    except OSError:
                        continue
            return out

        daemon_module.Daemon._scan = scan  # type: ignore[method-assign]
    if "metrics-thread" in fixes:
        from aiohttp import web

        from agent.web import server
        from agent.web.app_keys import STATE_KEY

        async def metrics(request: web.Request) -> web.Response:
            state = request.app[STATE_KEY]
            if state.metrics is None:
                return web.Response(status=404)
            body, content_type = await asyncio.to_thread(state.metrics)
            return web.Response(body=body, headers={"Content-Type": content_type})

        server.metrics = metrics


def write_journeys(folder: Path, count: int, interval: float, url: str, slo: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        data = journey_dict(f"bench-{i:05d}", url, interval=interval, slo=slo)
        (folder / f"bench-{i:05d}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


async def bench(
    journeys: int,
    interval: float,
    seconds: float,
    concurrency: int,
    scrape_every: float,
    url: str,
    tmp: Path,
    fixes: list[str],
    slo: bool = True,
) -> dict[str, Any]:
    from agent.config.models import AgentConfig
    from agent.daemon.lifecycle import Daemon
    from agent.daemon.logs import setup_logging, stop_logging

    folder = tmp / "journeys"
    write_journeys(folder, journeys, interval, url, slo)
    log_file = (tmp / "agent.log").open("w")
    setup_logging("text", "info", stream=log_file)
    config = AgentConfig.model_validate(
        {
            "location": "bench",
            "concurrency": concurrency,
            "journeys": [str(folder / "*.yaml")],
            "server": {"listen": "127.0.0.1:0"},
            "storage": {"path": str(tmp / "store.db")},
            "artifacts": str(tmp / "artifacts"),
            "grace": "10s",
        }
    )
    apply_fixes(fixes)
    daemon = Daemon(config)
    outcomes: Counter[str] = Counter()
    t0 = time.perf_counter()
    await daemon.start()
    if "gc-freeze" in fixes:
        gc.collect()
        gc.freeze()  # the start-up heap (modules, journeys) leaves every later collection
    assert daemon.parts is not None
    daemon.parts.sinks.append(lambda result, journey: outcomes.update([result.outcome.value]))
    start_s = time.perf_counter() - t0
    tracked0 = len(gc.get_objects())
    sched = daemon.scheduler
    cpu0, wall0, started0 = time.process_time(), time.perf_counter(), sched.started_total
    rss_samples: list[tuple[float, int]] = []
    scrapes: list[tuple[float, int]] = []
    mark: int | None = None
    stalls = Stalls()
    stalls.start()
    next_scrape = scrape_every if scrape_every > 0 else float("inf")
    next_rss = 0.0
    while (elapsed := time.perf_counter() - wall0) < seconds:
        if mark is None and elapsed >= interval:
            mark = sched.started_total
        if elapsed >= next_rss:
            rss_samples.append((round(elapsed, 1), proc_status_kib("self", "VmRSS")))
            next_rss += 10.0
        if elapsed >= next_scrape:
            began = time.perf_counter()
            size = await scrape(daemon.base_url + "/metrics")
            scrapes.append((round((time.perf_counter() - began) * 1e3, 1), size))
            next_scrape += scrape_every
        await asyncio.sleep(min(0.5, max(0.0, seconds - elapsed)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    runs = sched.started_total - started0
    samples = list(sched.lateness)
    late_runs = sched.started_total - mark if mark is not None else 0
    steady = samples[-late_runs:] if late_runs > 0 else []
    skipped, in_flight, waiting = sched.skipped_total, sched.in_flight, sched.waiting
    diagnosis = stalls.stop()
    diagnosis["thread_cpu_s"] = thread_cpu()
    slo_service = daemon.parts.slo if daemon.parts else None
    if slo_service is not None:  # the SLO engine's periodic evaluation runs on the event loop
        diagnosis["slo_evaluations"] = getattr(slo_service, "evaluations", None)
        diagnosis["slo_last_evaluation_ms"] = round(getattr(slo_service, "last_duration_s", 0.0) * 1e3, 1)
    diagnosis["gc_tracked_objects"] = {
        "after_start": tracked0,
        "at_end": len(gc.get_objects()),
        "frozen": gc.get_freeze_count(),
    }
    store = daemon.state.store
    assert store is not None
    t1 = time.perf_counter()
    await daemon.stop()
    stop_s = time.perf_counter() - t1
    stop_logging()
    log_file.close()
    written, dropped = store.written, store.dropped
    size = store_bytes(Path(store.path))
    rss_peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "journeys": journeys,
        "interval_s": interval,
        "seconds": round(wall, 1),
        "concurrency": concurrency,
        "start_s": round(start_s, 2),
        "stop_s": round(stop_s, 2),
        "runs": runs,
        "runs_per_s": round(runs / wall, 2),
        "expected_runs_per_s": round(journeys / interval, 2),
        "skipped": skipped,
        "in_flight_at_end": in_flight,
        "waiting_at_end": waiting,
        "outcomes": dict(outcomes),
        "lateness_ms": summary_ms(samples),
        "lateness_steady_ms": summary_ms(steady),
        "cpu_s": round(cpu, 2),
        "cpu_share_of_one_core": round(cpu / wall, 3),
        "cpu_ms_per_run": round(cpu / runs * 1e3, 3) if runs else None,
        "peak_rss_mib": round(rss_peak_kib / 1024, 1),
        "rss_mib_over_time": [(t, round(kib / 1024, 1)) for t, kib in rss_samples],
        "store_written": written,
        "store_dropped": dropped,
        "store_bytes": size,
        "store_kib_per_1000_runs": round(size / 1024 / (written / 1000), 1) if written else None,
        "diagnosis": diagnosis,
        "scrapes": {
            "count": len(scrapes),
            "ms_median": sorted(s[0] for s in scrapes)[len(scrapes) // 2] if scrapes else None,
            "bytes_last": scrapes[-1][1] if scrapes else None,
        },
    }


def report(result: dict[str, Any]) -> None:
    late, steady = result["lateness_ms"], result["lateness_steady_ms"]
    rows = [
        [
            "journeys / interval / concurrency",
            f"{result['journeys']} / {result['interval_s']:g}s / {result['concurrency']}",
        ],
        [
            "wall seconds (start, stop)",
            f"{result['seconds']:.0f} ({result['start_s']:.1f}s, {result['stop_s']:.1f}s)",
        ],
        [
            "runs (runs/s; expected)",
            f"{result['runs']} ({result['runs_per_s']:.1f}/s; {result['expected_runs_per_s']:.1f}/s)",
        ],
        ["outcomes", ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items())) or "none"],
        ["skipped runs", result["skipped"]],
        [
            "start lateness p50 / p99 / max (all)",
            f"{fmt(late['p50'], '.2f')} / {fmt(late['p99'], '.2f')} / {fmt(late['max'], '.1f')} ms",
        ],
        [
            "start lateness p50 / p99 / max (after 1st interval)",
            f"{fmt(steady['p50'], '.2f')} / {fmt(steady['p99'], '.2f')} / {fmt(steady['max'], '.1f')} ms",
        ],
        ["CPU seconds (share of one core)", f"{result['cpu_s']:.1f} ({result['cpu_share_of_one_core']:.0%})"],
        ["CPU per run", fmt(result["cpu_ms_per_run"], ".3f", " ms")],
        ["peak RSS", f"{result['peak_rss_mib']} MiB"],
        [
            "RSS over time (s: MiB)",
            " ".join(
                f"{t:g}:{m:g}" for t, m in result["rss_mib_over_time"][:: max(1, len(result["rss_mib_over_time"]) // 8)]
            ),
        ],
        ["store: written / dropped", f"{result['store_written']} / {result['store_dropped']}"],
        ["store size per 1,000 runs", fmt(result["store_kib_per_1000_runs"], ".0f", " KiB")],
        [
            "/metrics scrapes (median ms, bytes)",
            f"{result['scrapes']['count']} ({result['scrapes']['ms_median']}, {result['scrapes']['bytes_last']})",
        ],
    ]
    diag = result["diagnosis"]
    worst = diag["worst_stalls"][:3]
    rows += [
        [
            "event-loop stalls > 20 ms: count (ms; ms our CPU)",
            f"{diag['loop_stalls_over_20ms']} ({diag['loop_stall_ms_total']:.0f}; "
            f"{diag['loop_stall_cpu_ms_total']:.0f})",
        ],
        [
            "worst stalls (at s: ms, CPU ms)",
            " ".join(f"{w['at_s']:g}:{w['stall_ms']:g},{w['cpu_ms']:g}" for w in worst),
        ],
        [
            "GC gen0/1/2: count, max ms (max CPU ms)",
            " ".join(f"{g['count']},{g['max_ms']:g}({g['cpu_max_ms']:g})" for g in diag["gc"].values()),
        ],
        [
            "GC-tracked objects after start / at end",
            f"{diag['gc_tracked_objects']['after_start']:,} / {diag['gc_tracked_objects']['at_end']:,}",
        ],
        ["SLO evaluations (last one, ms)",
         f"{diag.get('slo_evaluations')} ({diag.get('slo_last_evaluation_ms')})"],
        ["CPU by thread (s)", " ".join(f"{k}:{v:g}" for k, v in sorted(diag["thread_cpu_s"].items()))],
    ]
    print_table("journeyprobe daemon (store + telemetry on) against a local aiohttp target", ["", "value"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long to run (1..3600)")
    parser.add_argument("--concurrency", type=int, default=100, help="the daemon's `concurrency`")
    parser.add_argument("--scrape-every", type=float, default=15.0, help="seconds between /metrics scrapes; 0: none")
    parser.add_argument("--no-slo", action="store_true", help="journeys without an SLO (by default each has one, 28d)")
    parser.add_argument(
        "--fix",
        action="append",
        default=[],
        choices=FIXES,
        help="emulate a proposed fix (repeatable); default: the agent as it is",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the agent (and target) at this nice value; negative needs root: "
        "shields the figures from other load on a shared machine",
    )
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the event loop")
    parser.add_argument("--out", help="JSON file to write (default bench/out/daemon-<journeys>-<time>.json)")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 3600.0)
    journeys = max(1, min(args.journeys, 20_000))
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, max(-20, min(19, args.nice)))
    tmp = Path(tempfile.mkdtemp(prefix="jp-bench-daemon-"))
    try:
        with target_process(max_seconds=seconds + 600) as (target, base):
            target_cpu0 = proc_cpu_s(target.pid)
            run = asyncio.run
            if args.loop == "uvloop":
                import uvloop

                run = uvloop.run
            result = run(
                bench(
                    journeys,
                    max(1.0, args.interval),
                    seconds,
                    args.concurrency,
                    args.scrape_every,
                    f"{base}/ok",
                    tmp,
                    args.fix,
                    not args.no_slo,
                )
            )
            result["target_cpu_s"] = round(proc_cpu_s(target.pid) - target_cpu0, 2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "bench": "daemon",
        "machine": machine(),
        "fixes_emulated": args.fix,
        "loop": args.loop,
        "slo_per_journey": not args.no_slo,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        **result,
    }
    report(result)
    write_json(f"daemon-{journeys}", result, args.out)


if __name__ == "__main__":
    main()
