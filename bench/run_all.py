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

from _common import BENCH, OUT, PY, blackbox_binary, fmt, machine

PARTS = ("cost", "precision", "startup", "punctuality", "slo", "ablation")


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
    parts: dict[str, tuple[list[str], float]] = {
        "cost": (
            [
                s(BENCH / "bench_cost.py"),
                "--checks",
                "40" if quick else s(args.checks),
                "--rounds",
                "1" if quick else s(args.rounds),
                "--warmup",
                "5" if quick else "100",
                "--out",
                s(folder / "cost.json"),
            ],
            1800,
        ),
        "precision": (
            [
                s(BENCH / "bench_precision.py"),
                "--delays",
                "20,50" if quick else "100,500",
                "--samples",
                "2" if quick else s(args.samples),
                "--warmup",
                "0" if quick else "2",
                "--out",
                s(folder / "precision.json"),
            ],
            1200,
        ),
        "startup": (
            [
                s(BENCH / "bench_startup.py"),
                "--runs",
                "2" if quick else "10",
                "--warmup",
                "0" if quick else "2",
                "--out",
                s(folder / "startup.json"),
            ],
            600,
        ),
        "punctuality": (
            [
                s(BENCH / "bench_punctuality.py"),
                "--journeys",
                "20,50" if quick else args.journeys,
                "--interval",
                "1" if quick else "10",
                "--seconds",
                s(daemon_seconds),
                "--control-seconds",
                "2" if quick else s(args.control_seconds),
                "--daemon-args",
                args.daemon_args,
                "--out",
                s(folder / "punctuality.json"),
            ],
            (daemon_seconds + args.control_seconds + 600) * 3,
        ),
        "ablation": (
            [
                s(BENCH / "ablation.py"),
                "--checks",
                "20" if quick else "1000",
                "--rounds",
                "1" if quick else "3",
                "--out",
                s(folder / "ablation.json"),
            ],
            1800,
        ),
    }
    if (BENCH / "bench_slo.py").exists():
        parts["slo"] = (
            [s(BENCH / "bench_slo.py"), *(["--slos", "20", "--days", "2", "--load", "2"] if quick else [])],
            900,
        )
    return parts


def load(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def newest(pattern: str, since: float) -> dict[str, Any] | None:
    files = [p for p in OUT.glob(pattern) if p.stat().st_mtime >= since]
    return load(max(files, key=lambda p: p.stat().st_mtime)) if files else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets: measured value, target, met or by how much missed."""
    out: list[dict[str, Any]] = []

    def add(what: str, value: float | None, limit: float, unit: str, note: str = "") -> None:
        met = value is not None and value <= limit
        miss = (
            ""
            if met or value is None
            else f"misses by {value - limit:.3g}{unit} ({value / limit:.2g}x the target)"
        )
        out.append(
            {
                "target": what,
                "value": value,
                "limit": limit,
                "unit": unit,
                "met": met,
                "miss": miss,
                "note": note,
            }
        )

    cost = results.get("cost")
    if cost:
        ratios = cost.get("ratios", {})
        for mine, note in (
            ("journeyprobe", "Runner, as `check` runs"),
            ("journeyprobe+telemetry", "with the daemon's spans + metrics"),
            ("journeyprobe+daemon", "+ store + run log"),
        ):
            r = ratios.get(f"{mine} / blackbox_exporter")
            if r:
                add(f"CPU/check {mine} / blackbox_exporter <= 1", r["cpu_per_check"], 1.0, "x", note)
        for mine in ("journeyprobe", "journeyprobe+telemetry", "journeyprobe+daemon"):
            r = ratios.get(f"{mine} / aiohttp (bare)")
            if r:
                add(f"CPU/check {mine} / bare aiohttp <= 3", r["cpu_per_check"], 3.0, "x")
    precision = results.get("precision")
    if precision:
        for delay, row in precision["errors"].items():
            diff = row.get("journeyprobe_minus_curl_ms")
            add(
                f"duration error vs curl at {delay} ms (|median diff| <= 0.5 ms)",
                abs(diff) if diff is not None else None,
                0.5,
                " ms",
                f"journeyprobe {fmt(row['journeyprobe']['median_ms'], '.3f')} ms, "
                f"curl {fmt(row.get('curl', {}).get('median_ms'), '.3f')} ms",
            )
    punct = results.get("punctuality")
    if punct:
        first = punct["results"].get("1000") or next(iter(punct["results"].values()))
        d, c = first["daemon"], first["control"]
        note = f"control (bare scheduler) p99 {fmt(c['lateness_ms']['p99'], '.1f')} ms" if c else ""
        add(
            f"p99 start lateness at {d['journeys']} journeys < 20 ms",
            d["lateness_steady_ms"]["p99"],
            20.0,
            " ms",
            note,
        )
    startup = results.get("startup")
    if startup:
        add(
            "`journeyprobe check` (1 step) under 1 s",
            startup["results"]["journeyprobe check (1 step)"]["median_ms"] / 1000,
            1.0,
            " s",
            f"python -c pass {startup['results']['python -c pass']['median_ms']:.0f} ms",
        )
    return out


def markdown(all_results: dict[str, Any]) -> str:
    r = all_results["results"]
    m = all_results["machine"]
    lines = [
        f"# journeyprobe benchmarks, {m['time']}",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Python {m['python']}, aiohttp {m['aiohttp']}, "
        f"{m['blackbox_exporter'] or 'blackbox_exporter not installed'}; load average at start "
        f"{' '.join(str(x) for x in m['loadavg_at_start'])}.",
        "",
        "## Targets",
        "",
        "| target | measured | met | note |",
        "|---|---|---|---|",
    ]
    for t in all_results["targets"]:
        value = fmt(t["value"], ".3g", t["unit"])
        lines.append(
            f"| {t['target']} | {value} | {'yes' if t['met'] else 'NO: ' + t['miss']} | {t['note']} |"
        )
    if r.get("cost"):
        c = r["cost"]
        lines += [
            "",
            f"## Cost ({c['checks']} checks x {len(c['rounds'])} rounds, concurrency {c['concurrency']}, "
            "fresh connection each)",
            "",
            "| contender | checks/s | CPU ms/check |",
            "|---|---|---|",
        ]
        for name, med in c["median"].items():
            lines.append(f"| {name} | {med['checks_per_s']:.0f} | {med['cpu_ms_per_check']:.3f} |")
        lines += ["", "| pair | CPU/check ratio | per round | checks/s ratio |", "|---|---|---|---|"]
        for pair, data in c["ratios"].items():
            per = " ".join(fmt(p["cpu_per_check"], ".2f") for p in data["per_round"])
            lines.append(f"| {pair} | {data['cpu_per_check']:.2f}x | {per} | {data['checks_per_s']:.2f}x |")
    if r.get("precision"):
        p = r["precision"]
        lines += [
            "",
            f"## Precision (measured - true delay, ms; {p['samples']} samples each)",
            "",
            "| delay | tool | median | p95 |",
            "|---|---|---|---|",
        ]
        for delay, row in p["errors"].items():
            for tool in p["tools"]:
                lines.append(
                    f"| {delay} ms | {tool} | {fmt(row[tool]['median_ms'], '.3f')} | "
                    f"{fmt(row[tool]['p95_ms'], '.3f')} |"
                )
    if r.get("punctuality"):
        lines += [
            "",
            "## Punctuality, daemon and footprint",
            "",
            "| journeys | what | lateness p50 / p99 / max ms | runs/s | skipped | CPU ms/run | peak RSS MiB "
            "| store KiB / 1,000 runs | /metrics scrape ms |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for count, pair in r["punctuality"]["results"].items():
            d, c = pair["daemon"], pair["control"]
            late = d["lateness_steady_ms"]
            lines.append(
                f"| {count} | daemon | {fmt(late['p50'], '.1f')} / {fmt(late['p99'], '.1f')} / "
                f"{fmt(late['max'], '.0f')} | {d['runs_per_s']:.1f} | {d['skipped']} | "
                f"{fmt(d['cpu_ms_per_run'], '.2f')} | {d['peak_rss_mib']} | "
                f"{fmt(d['store_kib_per_1000_runs'], '.0f')} "
                f"| {d['scrapes']['ms_median']} |"
            )
            if c:
                cl = c["lateness_ms"]
                lines.append(
                    f"| {count} | control | {fmt(cl['p50'], '.1f')} / {fmt(cl['p99'], '.1f')} / "
                    f"{fmt(cl['max'], '.0f')} | {c['runs_per_s']:.1f} | {c['skipped']} | "
                    f"{fmt((c['cpu_us_per_run'] or 0) / 1000, '.2f')} | {c['peak_rss_mib']} | | |"
                )
    slo = r.get("slo")
    lines += ["", "## SLO evaluation", ""]
    if slo:
        lines.append(
            f"{slo.get('slos')} SLOs x {slo.get('days')} days of per-minute data: evaluate "
            f"{fmt(slo.get('evaluate_s', 0) * 1000, '.1f')} ms, "
            f"alerts {fmt(slo.get('alerts_s', 0) * 1000, '.1f')} ms, "
            f"settle sync {fmt(slo.get('settle_s', 0) * 1000, '.1f')} ms (bench_slo.py)."
        )
    else:
        lines.append("bench/bench_slo.py is not there (yet): no SLO evaluation figure.")
    if r.get("startup"):
        lines += ["", "## Startup", "", "| command | median ms | CPU ms |", "|---|---|---|"]
        for name, row in r["startup"]["results"].items():
            lines.append(f"| {name} | {row['median_ms']:.0f} | {row['cpu_ms']:.0f} |")
    if r.get("ablation"):
        a = r["ablation"]
        lines += [
            "",
            "## What each proposed fix buys (CPU µs per check, emulated)",
            "",
            "| variant | µs/check |",
            "|---|---|",
        ]
        for name, value in a["median_us"].items():
            lines.append(f"| {name} | {value:.0f} |")
    lines += ["", f"Parts: {', '.join(f'{k} {v}' for k, v in all_results['status'].items())}.", ""]
    return "\n".join(lines)


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
