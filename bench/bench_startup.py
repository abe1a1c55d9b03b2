"""Start-up: wall time of `journeyprobe check` on a one-step journey, against `python -c pass`.

    .venv/bin/python bench/bench_startup.py --runs 10

What every CI job pays per `check`. The journey GETs a local target (bench/target.py, its own
process). Uses hyperfine when it is installed (`apt-get install hyperfine`), else times the
commands itself; either way the median of --runs runs after --warmup runs, and the user + system
CPU of the child.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from _common import PY, fmt, journey_dict, machine, print_table, target_process, write_json


def journeyprobe_command() -> list[str]:
    script = Path(PY).parent / "journeyprobe"
    return [str(script)] if script.exists() else [PY, "-m", "agent"]


def commands(journey: Path) -> dict[str, list[str]]:
    jp = journeyprobe_command()
    return {
        "python -c pass": [PY, "-c", "pass"],
        "journeyprobe --version": [*jp, "--version"],
        "journeyprobe check (1 step)": [*jp, "check", str(journey)],
    }


def with_hyperfine(
    cmds: dict[str, list[str]], runs: int, warmup: int, cwd: Path
) -> dict[str, dict[str, Any]]:
    export = cwd / "hyperfine.json"
    names = list(cmds)
    argv = [
        "hyperfine",
        "-N",
        "--style",
        "none",
        "--warmup",
        str(warmup),
        "--runs",
        str(runs),
        "--export-json",
        str(export),
    ]
    for name in names:
        argv += ["-n", name, " ".join(cmds[name])]
    subprocess.run(argv, check=True, cwd=cwd, stdout=subprocess.DEVNULL, timeout=600)
    data = json.loads(export.read_text())
    out: dict[str, dict[str, Any]] = {}
    for name, entry in zip(names, data["results"], strict=True):
        times = entry["times"]
        out[name] = {
            "median_ms": round(entry["median"] * 1e3, 1),
            "mean_ms": round(entry["mean"] * 1e3, 1),
            "min_ms": round(entry["min"] * 1e3, 1),
            "stddev_ms": round((entry["stddev"] or 0) * 1e3, 1),
            "cpu_ms": round((entry["user"] + entry["system"]) * 1e3, 1),
            "runs": len(times),
            "exit_codes": sorted(set(entry.get("exit_codes") or [])),
        }
    return out


def by_hand(cmds: dict[str, list[str]], runs: int, warmup: int, cwd: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, argv in cmds.items():
        times: list[float] = []
        cpu: list[float] = []
        codes: set[int] = set()
        for i in range(warmup + runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            code = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, timeout=60).returncode
            took = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if i >= warmup:
                times.append(took)
                cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                codes.add(code)
        out[name] = {
            "median_ms": round(statistics.median(times) * 1e3, 1),
            "mean_ms": round(statistics.fmean(times) * 1e3, 1),
            "min_ms": round(min(times) * 1e3, 1),
            "stddev_ms": round(statistics.pstdev(times) * 1e3, 1),
            "cpu_ms": round(statistics.fmean(cpu) * 1e3, 1),
            "runs": runs,
            "exit_codes": sorted(codes),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--no-hyperfine", action="store_true", help="time the commands here even if hyperfine exists"
    )
    parser.add_argument("--out", help="JSON file to write (default bench/out/startup-<time>.json)")
    args = parser.parse_args()
    runs, warmup = max(1, min(args.runs, 200)), max(0, min(args.warmup, 20))
    tool = "hyperfine" if shutil.which("hyperfine") and not args.no_hyperfine else "subprocess"
    with tempfile.TemporaryDirectory(prefix="jp-bench-startup-") as tmp, target_process(600) as (_, base):
        cwd = Path(tmp)
        journey = cwd / "startup.yaml"
        journey.write_text(yaml.safe_dump(journey_dict("startup", f"{base}/ok"), sort_keys=False))
        cmds = commands(journey)
        env_note = {k: v for k, v in os.environ.items() if k.startswith("PYTHON")}
        timed = (with_hyperfine if tool == "hyperfine" else by_hand)(cmds, runs, warmup, cwd)
    base_ms = timed["python -c pass"]["median_ms"]
    check = timed["journeyprobe check (1 step)"]
    result = {
        "bench": "startup",
        "machine": machine(),
        "tool": tool,
        "runs": runs,
        "warmup": warmup,
        "commands": {k: " ".join(v) for k, v in cmds.items()},
        "python_env": env_note,
        "results": timed,
        "check_minus_python_ms": round(check["median_ms"] - base_ms, 1),
        "check_under_1s": check["median_ms"] < 1000,
    }
    rows = [
        [
            name,
            fmt(r["median_ms"], ".0f"),
            fmt(r["mean_ms"], ".0f"),
            fmt(r["min_ms"], ".0f"),
            fmt(r["stddev_ms"], ".0f"),
            fmt(r["cpu_ms"], ".0f"),
            ",".join(map(str, r["exit_codes"])),
        ]
        for name, r in timed.items()
    ]
    print_table(
        f"Start-up, wall ms ({tool}, {runs} runs after {warmup} warm-up)",
        ["command", "median", "mean", "min", "stddev", "CPU", "exit"],
        rows,
    )
    print(
        f"check - python -c pass: {result['check_minus_python_ms']:.0f} ms (median); target: check under 1 s"
    )
    write_json("startup", result, args.out)


if __name__ == "__main__":
    main()
