"""Where the CPU goes: py-spy profiles of the cost bench, the daemon and `journeyprobe check`.

    .venv/bin/python bench/profile_hot.py cost     [--kind runner|telemetry|daemon|bare] [--checks 3000]
    .venv/bin/python bench/profile_hot.py daemon   [--journeys 1000] [--seconds 60]
    .venv/bin/python bench/profile_hot.py startup

Each records the process with `py-spy record --format raw` (sampling, CPU only: idle threads are
left out), then sums the samples per function: inclusive (the function is anywhere on the stack)
and self (it is the leaf), and per library of the leaf frame. `startup` adds `python -X importtime`
summed per top-level package. Raw stacks and the summary go to bench/out/profile-<what>-<time>.*;
open the .raw file in speedscope or flamegraph.pl for the full picture.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from _common import BENCH, OUT, PY, journey_dict, print_table, target_process, write_json

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy (it is in the dev extra)")
    return found


def record(argv: list[str], raw: Path, rate: int, timeout: float) -> None:
    command = [
        py_spy(),
        "record",
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(raw),
        "--",
        *argv,
    ]
    subprocess.run(command, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def library(file: str) -> str:
    """The package a frame's file belongs to: agent.x, exporters, aiohttp, asyncio, stdlib..."""
    if file.startswith("<frozen importlib") or "importlib" in file:
        return "import machinery"
    parts = file.split("/")
    if "site-packages" in parts:
        name = parts[parts.index("site-packages") + 1]
        return name.split(".")[0]
    if parts[0] in ("agent", "exporters", "bench"):
        return "/".join(parts[:2]).removesuffix(".py") if parts[0] == "agent" else parts[0]
    if parts[0].startswith("<"):
        return parts[0]
    return parts[0].removesuffix(".py") if len(parts) > 1 else "stdlib:" + parts[0].removesuffix(".py")


def summarize(raw: Path, top: int) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    libs: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        seen: set[str] = set()
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        for frame in frames:
            match = FRAME.match(frame)
            key = f"{match['func']} ({match['file']})" if match else frame
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
        if frames:
            match = FRAME.match(frames[-1])
            leaf[f"{match['func']} ({match['file']}:{match['line']})" if match else frames[-1]] += count
            libs[library(match["file"]) if match else "?"] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(v / total * 100, 1)) for k, v in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "inclusive_pct": share(inclusive),
        "self_pct": share(leaf),
        "library_pct": share(libs),
    }


def importtime(argv: list[str], top: int) -> dict[str, Any]:
    """`python -X importtime` of the command: cumulative ms per module, self ms per top package."""
    out = subprocess.run([PY, "-X", "importtime", *argv], capture_output=True, text=True, timeout=120)
    cumulative: list[tuple[float, str]] = []
    packages: Counter[str] = Counter()
    total = 0.0
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|")
        module = name.strip()
        cumulative.append((int(cum_us) / 1000, name.rstrip()))
        packages[module.split(".")[0]] += int(self_us) / 1000
        total += int(self_us) / 1000
    return {
        "total_self_ms": round(total, 1),
        "top_cumulative_ms": [(n, round(ms, 1)) for ms, n in sorted(cumulative, reverse=True)[:top]],
        "self_ms_by_package": [(k, round(v, 1)) for k, v in packages.most_common(top)],
    }


def show(title: str, summary: dict[str, Any], top: int) -> None:
    print_table(
        f"{title}: {summary['samples']} samples, inclusive % of CPU samples",
        ["function (file)", "%"],
        summary["inclusive_pct"][:top],
    )
    print_table("self % (leaf frame)", ["function (file:line)", "%"], summary["self_pct"][:top])
    print_table("by library of the leaf frame", ["library", "%"], summary["library_pct"][:top])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["cost", "daemon", "startup"])
    parser.add_argument(
        "--kind",
        default="runner",
        choices=["runner", "telemetry", "daemon", "bare"],
        help="cost: which worker of bench_cost.py to profile",
    )
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--journeys", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    name = f"profile-{args.what}{'-' + args.kind if args.what == 'cost' else ''}"
    raw = OUT / f"{name}-{stamp}.raw"
    OUT.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"bench": name}
    with tempfile.TemporaryDirectory(prefix="jp-bench-profile-") as tmp, target_process(3600) as (_, base):
        if args.what == "cost":
            argv = [
                str(BENCH / "bench_cost.py"),
                "--worker",
                args.kind,
                "--url",
                f"{base}/ok",
                "--checks",
                str(max(1, min(args.checks, 200_000))),
                "--concurrency",
                str(args.concurrency),
                "--warmup",
                "100",
                "--max-seconds",
                "300",
            ]
            record([PY, *argv], raw, args.rate, 900)
        elif args.what == "daemon":
            argv = [
                str(BENCH / "bench_daemon.py"),
                "--journeys",
                str(args.journeys),
                "--interval",
                "10",
                "--seconds",
                str(min(max(args.seconds, 5.0), 600.0)),
                "--out",
                str(Path(tmp) / "d.json"),
            ]
            record([PY, *argv], raw, args.rate, 1200)
        else:
            journey = Path(tmp) / "startup.yaml"
            journey.write_text(yaml.safe_dump(journey_dict("startup", f"{base}/ok"), sort_keys=False))
            argv = ["-m", "agent", "check", str(journey)]
            record([PY, *argv], raw, max(args.rate, 2000), 120)
            result["importtime"] = importtime(argv, args.top)
    result.update(summarize(raw, args.top * 2))
    result["raw"] = str(raw)
    show(name, result, args.top)
    if "importtime" in result:
        imp = result["importtime"]
        print_table(
            f"python -X importtime: {imp['total_self_ms']} ms of imports; self ms by package",
            ["package", "ms"],
            imp["self_ms_by_package"],
        )
        print_table("cumulative ms by module", ["module", "ms"], imp["top_cumulative_ms"])
    write_json(name, result)
    print(json.dumps({"raw": str(raw)}))


if __name__ == "__main__":
    main()
