"""Every benchmark in one command, back to back, with a combined JSON and a Markdown table.

    .venv/bin/python bench/run_all.py               # the issue's defaults: about 20 minutes
    .venv/bin/python bench/run_all.py --quick       # tiny counts: a smoke run of a minute or so

`make bench` runs this. On a fresh machine it installs what it compares against when missing
(prometheus-blackbox-exporter, curl, hyperfine; with apt-get, as root; --no-install skips that).
Each part runs in its own process and writes its JSON to bench/out/run-<time>/; the combined
result is bench/out/run-<time>/all.json and all.md (and bench/out/latest.{json,md}).

Parts: cost (journeyprobe vs blackbox_exporter vs bare aiohttp), precision (vs curl and
blackbox), startup (`journeyprobe check` vs `python -c pass`), punctuality + daemon + footprint
(the real daemon at 1,000 and 5,000 journeys, with the bare scheduler as control), the SLO engine
(bench_slo.py, when present) and the fix ablation (what each proposed speed fix buys).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, OUT, PY, blackbox_binary, machine
from _summary import load, markdown, newest, targets

PARTS = ("side", "fleet", "metrics", "cost", "precision", "startup", "punctuality", "slo", "ablation")


def ensure_tools(install: bool) -> list[str]:
    """Install blackbox_exporter, curl and hyperfine with apt-get when missing (root only)."""
    wanted = {
        "prometheus-blackbox-exporter": blackbox_binary() is None,
        "curl": shutil.which("curl") is None,
        "hyperfine": shutil.which("hyperfine") is None,
    }
    missing = [name for name, absent in wanted.items() if absent]
    if not missing or not install:
        return missing
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            f"missing {', '.join(missing)}: install them (apt-get install {' '.join(missing)})",
            file=sys.stderr,
        )
        return missing
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(command, env=env, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=900)
        subprocess.run(command, env=env, timeout=900)
    return [
        n
        for n in missing
        if shutil.which(n) is None and not (n.startswith("prometheus") and blackbox_binary())
    ]


def run_part(name: str, argv: list[str], timeout: float) -> tuple[bool, float]:
    """Run one bench script, its output passing through; (succeeded, seconds)."""
    print(f"\n=== {name}: {' '.join(argv)}", flush=True)
    started = time.perf_counter()
    try:
        code = subprocess.run([PY, *argv], timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"=== {name}: timed out after {timeout:.0f}s", flush=True)
        return False, time.perf_counter() - started
    took = time.perf_counter() - started
    print(f"=== {name}: {'ok' if code == 0 else f'failed ({code})'} in {took:.0f}s", flush=True)
    return code == 0, took


def plan(args: argparse.Namespace, folder: Path) -> dict[str, tuple[list[str], float]]:
    """argv and timeout of each part."""
    quick = args.quick
    s = str
    daemon_seconds = 4.0 if quick else args.daemon_seconds

    def part(script: str, name: str, flags: dict[str, str], timeout: float) -> tuple[list[str], float]:
        """`script --flag value ... --out <folder>/<name>.json`, and its timeout."""
        pairs = [item for flag_value in flags.items() for item in flag_value if item]
        return [s(BENCH / script), *pairs, "--out", s(folder / f"{name}.json")], timeout

    parts: dict[str, tuple[list[str], float]] = {
        "side": part(
            "bench_side_by_side.py",
            "side",
            {"--journeys": "20" if quick else "1000", "--interval": "2" if quick else "10",
             "--seconds": "5" if quick else "60", "--warmup": "3" if quick else "25"},
            1200,
        ),
        "fleet": part(
            "bench_side_by_side.py",
            "fleet",
            {"--journeys": "40" if quick else "5000", "--interval": "2" if quick else "10",
             "--seconds": "5" if quick else "120", "--warmup": "3" if quick else "60", "--workers": "auto",
             "--no-slo": "", "--daemon-only": ""},
            1800,
        ),
        "metrics": part(
            "bench_metrics.py",
            "metrics",
            {"--journeys": "50" if quick else "1000,5000", "--rounds": "1" if quick else "3"},
            1200,
        ),
        "cost": part(
            "bench_cost.py",
            "cost",
            {
                "--checks": "40" if quick else s(args.checks),
                "--rounds": "1" if quick else s(args.rounds),
                "--warmup": "5" if quick else "100",
            },
            1800,
        ),
        "precision": part(
            "bench_precision.py",
            "precision",
            {
                "--delays": "20,50" if quick else "100,500",
                "--samples": "2" if quick else s(args.samples),
                "--warmup": "0" if quick else "2",
            },
            1200,
        ),
        "startup": part(
            "bench_startup.py",
            "startup",
            {"--runs": "2" if quick else "10", "--warmup": "0" if quick else "2"},
            600,
        ),
        "punctuality": part(
            "bench_punctuality.py",
            "punctuality",
            {
                "--journeys": "20,50" if quick else args.journeys,
                "--interval": "1" if quick else "10",
                "--seconds": s(daemon_seconds),
                "--control-seconds": "2" if quick else s(args.control_seconds),
                "--daemon-args": args.daemon_args,
            },
            (daemon_seconds + args.control_seconds + 600) * 3,
        ),
        "ablation": part(
            "ablation.py",
            "ablation",
            {"--checks": "20" if quick else "1000", "--rounds": "1" if quick else "3"},
            1800,
        ),
    }
    if (BENCH / "bench_slo.py").exists():
        parts["slo"] = (
            [s(BENCH / "bench_slo.py"), *(["--slos", "20", "--days", "2", "--load", "2"] if quick else [])],
            900,
        )
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks that everything runs")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts: " + ", ".join(PARTS))
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install missing tools")
    parser.add_argument("--checks", type=int, default=2000, help="cost: checks per contender and round")
    parser.add_argument("--rounds", type=int, default=3, help="cost: rounds")
    parser.add_argument("--samples", type=int, default=30, help="precision: samples per tool and delay")
    parser.add_argument("--journeys", default="1000,5000", help="punctuality: journey counts")
    parser.add_argument("--daemon-seconds", type=float, default=180.0, help="punctuality: seconds per count")
    parser.add_argument(
        "--control-seconds", type=float, default=60.0, help="punctuality: control run seconds"
    )
    parser.add_argument(
        "--daemon-args", default="", help="extra bench_daemon.py arguments, e.g. '--nice -10'"
    )
    args = parser.parse_args()
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    missing = ensure_tools(not args.no_install and not args.quick)
    folder = OUT / f"run-{time.strftime('%Y%m%dT%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    status: dict[str, str] = {}
    results: dict[str, Any] = {}
    for name, (argv, timeout) in plan(args, folder).items():
        if name not in only:
            continue
        since = time.time()
        ok, took = run_part(name, argv, timeout)
        status[name] = f"{'ok' if ok else 'failed'} ({took:.0f}s)"
        results[name] = newest("slo-*.json", since) if name == "slo" else load(folder / f"{name}.json")
    all_results = {
        "bench": "all",
        "machine": machine(),
        "quick": args.quick,
        "missing_tools": missing,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started),
        "status": status,
        "results": results,
        "commands": {name: " ".join(argv) for name, (argv, _) in plan(args, folder).items() if name in only},
    }
    all_results["targets"] = targets(results)
    text = markdown(all_results)
    (folder / "all.json").write_text(json.dumps(all_results, indent=2, default=str) + "\n")
    (folder / "all.md").write_text(text)
    if not args.quick:
        shutil.copy(folder / "all.json", OUT / "latest.json")
        shutil.copy(folder / "all.md", OUT / "latest.md")
    print("\n" + text)
    print(f"wrote {folder / 'all.json'} and {folder / 'all.md'}")
    sys.exit(0 if all(v.startswith("ok") for v in status.values()) else 1)


if __name__ == "__main__":
    main()
