"""The combined result of run_all.py: each part's JSON read back, the issue's targets (met, or missed
by how much) and the Markdown report (bench/out/run-<time>/all.md, bench/out/latest.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _common import OUT, fmt


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
            else f"misses by {value - limit:.3g}{unit}" + (f" ({value / limit:.2g}x the target)" if limit else "")
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

    side = results.get("side")
    if side:
        d = side["daemon"]
        add("CPU/check, the daemon as run / blackbox_exporter <= 1", side["ratios"]["journeyprobe / blackbox_exporter"],
            1.0, "x", f"{d['due_per_s']:g} runs/s due, window {side['window_s']} s, load "
            f"{side['loadavg_start_end'][0]} -> {side['loadavg_start_end'][1]}")
        add("series of a one-step journey on /metrics <= 17", d["series_per_journey"], 17, "",
            f"{d['bytes_per_journey']} bytes")
    fleet = results.get("fleet")
    if fleet:
        d = fleet["daemon"]
        add("skipped runs at 5,000 journeys @10 s", d["skipped_in_window"], 0, "",
            f"{d['runs_per_s']} runs/s of {d['due_per_s']:g} due, workers {d['workers']}")
        add("p99 start lateness at 5,000 journeys < 50 ms", d["lateness_p99"]["ms"], 50.0, " ms",
            f"at most {d['lateness_p99']['at_most_ms']} ms by the histogram's bounds")
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
