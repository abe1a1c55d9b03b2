"""Punctuality: start lateness of the real daemon at 1,000 and 5,000 journeys, with a control.

    .venv/bin/python bench/bench_punctuality.py --journeys 1000,5000 --interval 10 --seconds 180

For each journey count, bench_daemon.py (the real Daemon: store, telemetry, server, watcher, a
/metrics scrape every 15 s; its own process each time, so peak RSS is per count) and, as a
control, bench_scheduler.py (the bare scheduler with a run that does nothing) at the same count and
interval. The control's lateness is what the machine itself adds (other load, the OS scheduler):
what the daemon adds on top of it is the agent's own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, OUT, PY, fmt, machine, print_table, write_json


def run_bench(
    script: Path, journeys: int, interval: float, seconds: float, timeout: float, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`script --journeys N --interval S --seconds S EXTRA...` in its own process, output captured."""
    command = [
        PY,
        str(script),
        "--journeys",
        str(journeys),
        "--interval",
        str(interval),
        "--seconds",
        str(seconds),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def run_daemon(journeys: int, interval: float, seconds: float, extra: list[str], out: Path) -> dict[str, Any]:
    script = BENCH / "bench_daemon.py"
    done = run_bench(script, journeys, interval, seconds, seconds + 900, "--out", str(out), *extra)
    if done.returncode != 0:
        raise RuntimeError(f"bench_daemon.py failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(out.read_text()))


def run_control(journeys: int, interval: float, seconds: float) -> dict[str, Any] | None:
    """bench_scheduler.py (not ours to change: it writes bench/out/scheduler-<n>-<time>.json)."""
    script = BENCH / "bench_scheduler.py"
    if not script.exists():
        return None
    before = set(OUT.glob(f"scheduler-{journeys}-*.json"))
    if run_bench(script, journeys, interval, seconds, seconds + 300).returncode != 0:
        return None
    new = sorted(set(OUT.glob(f"scheduler-{journeys}-*.json")) - before)
    return dict(json.loads(new[-1].read_text())) if new else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", default="1000,5000", help="comma-separated journey counts")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=180.0, help="per journey count (1..3600)")
    parser.add_argument("--control-seconds", type=float, default=60.0, help="0: no control run")
    parser.add_argument(
        "--daemon-args", default="", help="extra arguments for bench_daemon.py, e.g. '--nice -10'"
    )
    parser.add_argument("--out", help="JSON file to write (default bench/out/punctuality-<time>.json)")
    args = parser.parse_args()
    counts = [max(1, min(int(c), 20_000)) for c in args.journeys.split(",") if c.strip()]
    seconds = min(max(args.seconds, 1.0), 3600.0)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jp-bench-punct-") as tmp:
        for count in counts:
            print(f"daemon, {count} journeys, {seconds:g}s ...", file=sys.stderr, flush=True)
            daemon = run_daemon(
                count, args.interval, seconds, args.daemon_args.split(), Path(tmp) / f"daemon-{count}.json"
            )
            control = None
            if args.control_seconds > 0:
                print(
                    f"control (bare scheduler), {count} journeys, {args.control_seconds:g}s ...",
                    file=sys.stderr,
                    flush=True,
                )
                control = run_control(count, args.interval, min(args.control_seconds, 3600.0))
            results[str(count)] = {"daemon": daemon, "control": control}
    rows = []
    for count, pair in results.items():
        d, c = pair["daemon"], pair["control"]
        late = d["lateness_steady_ms"]
        rows.append(
            [
                count,
                "daemon",
                fmt(late["p50"], ".2f"),
                fmt(late["p99"], ".1f"),
                fmt(late["max"], ".1f"),
                f"{d['runs_per_s']:.1f}/{d['expected_runs_per_s']:.0f}",
                d["skipped"],
                fmt(d["cpu_ms_per_run"], ".2f"),
                d["peak_rss_mib"],
            ]
        )
        if c:
            cl = c["lateness_ms"]
            rows.append(
                [
                    count,
                    "control",
                    fmt(cl["p50"], ".2f"),
                    fmt(cl["p99"], ".1f"),
                    fmt(cl["max"], ".1f"),
                    f"{c['runs_per_s']:.1f}/{c['expected_runs_per_s']:.0f}",
                    c["skipped"],
                    fmt((c["cpu_us_per_run"] or 0) / 1000, ".2f"),
                    c["peak_rss_mib"],
                ]
            )
    print_table(
        f"Start lateness, ms, at a {args.interval:g}s interval (daemon: after its first interval; "
        "control: the bare scheduler, a run that does nothing)",
        ["journeys", "what", "p50", "p99", "max", "runs/s", "skipped", "CPU ms/run", "peak RSS MiB"],
        rows,
    )
    result = {
        "bench": "punctuality",
        "machine": machine(),
        "interval_s": args.interval,
        "seconds": seconds,
        "daemon_args": args.daemon_args,
        "results": results,
    }
    write_json("punctuality", result, args.out)
    print(f"done {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
