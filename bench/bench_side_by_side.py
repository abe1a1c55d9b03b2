"""The daemon as users run it, next to blackbox_exporter and a bare aiohttp loop, in one run.

    .venv/bin/python bench/bench_side_by_side.py --journeys 1000 --interval 10 --seconds 60

All three probe the same local target (bench/target.py, its own process) at the same rate,
N checks every `--interval` seconds, at the same time:
- journeyprobe: `python -m agent run` with N one-step journey files (`expect: status == 200`,
  one SLO each unless --no-slo), its SQLite store, run log (to a file), telemetry, SLO engine
  and server; a real Prometheus scrapes its /metrics every `--scrape-every` seconds;
- blackbox_exporter (`prober: http`): the same Prometheus scrapes N `/probe` targets every
  `--interval` seconds, as blackbox is run;
- bare aiohttp: two loops, each in its own process, N/interval checks a second, each check a new
  ClientSession (a new connection), a GET and the body read: the floor of a Python agent. One
  starts its checks on the daemon's 50 ms tick (`--bare-tick`), so it wakes up as often as the
  daemon; the other ("spread") starts each check at its own moment, as blackbox's come.
Without /usr/bin/prometheus a driver process probes blackbox and scrapes the daemon (bench/_roles.py).

After `--warmup` seconds, each process's CPU (utime + stime, all threads, /proc) is read at the
start and the end of a `--seconds` window and divided by the checks it made in the window
(journeyprobe: its journey_runs_total; blackbox: Prometheus's scrapes of it; the loop: its own
count). Prints CPU per check, the ratios, what the daemon's /metrics costs per journey, its
start lateness (journeyprobe_run_start_lateness_seconds) and skipped runs. Everything on
127.0.0.1; every process is bounded in time and ended by its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from _common import (
    PY,
    ROOT,
    blackbox_process,
    fmt,
    free_port,
    journey_dict,
    machine,
    print_table,
    proc_cpu_s,
    proc_status_kib,
    ratio,
    stop_process,
    target_process,
    wait_port,
    write_json,
)
from _roles import bare_loop, bare_loops, drive, scrape

from agent.daemon.scheduler import DEFAULT_TICK

PROMETHEUS = "/usr/bin/prometheus"


# -- the contenders ----------------------------------------------------------------------------------
def write_daemon(folder: Path, journeys: int, interval: float, url: str, slo: bool, detail: str,
                 workers: str) -> Path:
    (folder / "journeys").mkdir(parents=True)
    for i in range(journeys):
        data = journey_dict(f"bench-{i:05d}", url, interval=interval, slo=slo)
        (folder / "journeys" / f"bench-{i:05d}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    port = free_port()
    config: dict[str, Any] = {"location": "bench", "journeys": [str(folder / "journeys" / "*.yaml")],
              "server": {"listen": f"127.0.0.1:{port}"}, "storage": {"path": str(folder / "store.db")},
              "artifacts": str(folder / "artifacts")}
    if detail != "basic":  # keys left out at their defaults: an older agent (--agent-root) reads the file too
        config["telemetry"] = {"detail": detail}
    if workers != "1":
        config["workers"] = workers if workers == "auto" else int(workers)
    (folder / "agent.yaml").write_text(yaml.safe_dump(config))
    return folder / "agent.yaml"


@contextmanager
def daemon_process(config: Path, env: dict[str, str], max_seconds: float,
                   root: Path = ROOT) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m agent run --config agent.yaml` from `root`, its log to a file; yields (process, base URL)."""
    listen = yaml.safe_load(config.read_text())["server"]["listen"]
    log = (config.parent / "agent.log").open("wb")
    proc = subprocess.Popen(["timeout", str(int(max_seconds)), PY, "-m", "agent", "run", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(root),
                            env={**os.environ, "PYTHONPATH": str(root), **env})
    try:
        wait_port(int(listen.rsplit(":", 1)[1]), timeout=120)
        yield proc, f"http://{listen}"
    finally:
        stop_process(proc, 30)
        log.close()


def tree_cpu_s(pid: int) -> float:
    """CPU of a process and its children still running (the daemon and its workers)."""
    total = proc_cpu_s(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in (children.read_text().split() if children.exists() else []):
        try:
            total += tree_cpu_s(int(child))
        except OSError:
            pass  # ended meanwhile
    return total


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the daemon and its workers), MiB."""
    total = proc_status_kib(pid, "VmRSS")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in (children.read_text().split() if children.exists() else []):
        try:
            total += tree_rss_mib(int(child)) * 1024
        except OSError:
            pass
    return total / 1024


def python_pid(proc: subprocess.Popen[bytes]) -> int:
    """The daemon under `timeout`: the child whose CPU is the agent's."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    for _ in range(100):
        found = children.read_text().split() if children.exists() else []
        if found:
            return int(found[0])
        time.sleep(0.05)
    return proc.pid


@contextmanager
def prometheus_process(folder: Path, daemon: str, blackbox: str, targets: list[str], interval: float,
                       scrape_every: float) -> Iterator[str | None]:
    if not os.access(PROMETHEUS, os.X_OK):
        yield None
        return
    jobs: list[dict[str, Any]] = [{"job_name": "journeyprobe", "scrape_interval": f"{scrape_every:g}s",
                                   "static_configs": [{"targets": [daemon]}]}]
    if targets:
        jobs.append({"job_name": "blackbox", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
                     "scrape_interval": f"{interval:g}s", "scrape_timeout": f"{min(interval, 10):g}s",
                     "static_configs": [{"targets": targets}],
                     "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                         {"source_labels": ["__param_target"], "target_label": "instance"},
                                         {"target_label": "__address__", "replacement": blackbox}]})
    config = {"global": {"scrape_interval": f"{scrape_every:g}s", "scrape_timeout": "10s"}, "scrape_configs": jobs}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}",
                             f"--storage.tsdb.path={folder / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc, 30)


# -- reading the daemon --------------------------------------------------------------------------
def daemon_figures(page: str) -> dict[str, Any]:
    from exporters.prometheus import parse_exposition

    samples = parse_exposition(page)
    buckets = samples.get("journeyprobe_run_start_lateness_seconds_bucket", [])
    lateness = {labels["le"]: value for labels, value in buckets}
    one = [line for line in page.splitlines() if 'journey_name="bench-00000"' in line]
    return {
        "runs": sum(v for _, v in samples.get("journey_runs_total", [])),
        "skipped": sum(v for _, v in samples.get("journeyprobe_runs_skipped_total", [])),
        "lateness_buckets": lateness,
        "page_bytes": len(page.encode()),
        "journey_series": len(one),
        "journey_bytes": sum(len(line) + 1 for line in one),
        "outcomes": {labels["journey_outcome"]: 0.0 for labels, _ in samples.get("journey_runs_total", [])},
    }


def lateness_quantile(before: dict[str, float], after: dict[str, float], q: float) -> dict[str, Any]:
    """The q-quantile of the window's start lateness from the histogram's buckets (as histogram_quantile)."""
    bounds = sorted((float("inf") if le == "+Inf" else float(le), le) for le in after)
    counts = [(bound, after[le] - before.get(le, 0.0)) for bound, le in bounds]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return {"runs": 0, "ms": None, "at_most_ms": None}
    rank, previous_bound, previous_count = q * total, 0.0, 0.0
    for bound, count in counts:
        if count >= rank:
            if bound == float("inf"):
                return {"runs": total, "ms": None, "at_most_ms": None}
            share = (rank - previous_count) / (count - previous_count) if count > previous_count else 1.0
            return {"runs": total, "ms": round((previous_bound + (bound - previous_bound) * share) * 1e3, 1),
                    "at_most_ms": round(bound * 1e3, 1)}
        previous_bound, previous_count = bound, count
    return {"runs": total, "ms": None, "at_most_ms": None}


def blackbox_probes(prometheus: str, seconds: float, at: float) -> float:
    query = f'sum(count_over_time(up{{job="blackbox"}}[{int(seconds)}s]))'
    out = subprocess.run(["curl", "-s", "--max-time", "30", f"{prometheus}/api/v1/query",
                          "--data-urlencode", f"query={query}", "--data-urlencode", f"time={at:.3f}"],
                         capture_output=True, timeout=60)
    result = json.loads(out.stdout)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


# -- the run ---------------------------------------------------------------------------------------
def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    env = dict(item.split("=", 1) for item in args.daemon_env)
    rate = args.journeys / args.interval
    horizon = args.warmup + args.seconds + 120
    with ExitStack() as stack:
        _, base = stack.enter_context(target_process(max_seconds=horizon + 60))
        url = f"{base}/ok"
        config = write_daemon(folder, args.journeys, args.interval, url, not args.no_slo, args.detail, args.workers)
        daemon, daemon_url = stack.enter_context(daemon_process(config, env, horizon, Path(args.agent_root)))
        daemon_pid = python_pid(daemon)
        blackbox = stack.enter_context(blackbox_process()) if not args.daemon_only else None
        blackbox_url = blackbox[1] if blackbox else None
        bares: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        for name, tick in ({} if args.daemon_only else bare_loops(args.bare_tick)).items():
            status = folder / f"bare-{len(bares)}.status"
            status.write_text("0\n")
            bare = subprocess.Popen([PY, __file__, "--bare-worker", url, "--rate", str(rate),
                                     "--max-seconds", str(horizon), "--status", str(status), "--bare-tick", str(tick)])
            stack.callback(stop_process, bare)
            bares[name] = (bare, status)
        targets = [f"{base}/ok?probe={i}" for i in range(args.journeys)] if blackbox else []
        prometheus = stack.enter_context(prometheus_process(
            folder, daemon_url.removeprefix("http://"), (blackbox_url or "127.0.0.1:9").removeprefix("http://"),
            targets, args.interval, args.scrape_every)) if not args.no_prometheus else None
        driver = None
        if prometheus is None:
            driver = subprocess.Popen([PY, __file__, "--driver", blackbox_url or "", "--daemon", daemon_url,
                                       "--rate-interval", str(args.interval), "--targets", str(args.journeys),
                                       "--scrape-every", str(args.scrape_every), "--max-seconds", str(horizon),
                                       "--base", base])
            stack.callback(stop_process, driver)
        time.sleep(args.warmup)

        def snapshot() -> dict[str, Any]:
            page = scrape(daemon_url + "/metrics")
            return {"at": time.time(), "daemon_cpu": tree_cpu_s(daemon_pid), "rss_mib": tree_rss_mib(daemon_pid),
                    "blackbox_cpu": proc_cpu_s(blackbox[0].pid) if blackbox else None,
                    "bare": {name: (proc_cpu_s(proc.pid), int(status.read_text() or 0))
                             for name, (proc, status) in bares.items()},
                    "loadavg": os.getloadavg()[0], **daemon_figures(page)}

        first = snapshot()
        time.sleep(args.seconds)
        last = snapshot()
        window = last["at"] - first["at"]
        if blackbox is None:
            probes = 0.0
        elif prometheus is not None:
            time.sleep(2.0)  # let the last scrapes of the window land
            probes = blackbox_probes(prometheus, window, last["at"])
        else:
            probes = rate * window  # the driver keeps the rate
    checks = {"journeyprobe": last["runs"] - first["runs"], "blackbox_exporter": probes}
    cpu = {"journeyprobe": last["daemon_cpu"] - first["daemon_cpu"],
           "blackbox_exporter": (last["blackbox_cpu"] - first["blackbox_cpu"]) if blackbox else None}
    for name in bare_loops(args.bare_tick):
        before, after = first["bare"].get(name), last["bare"].get(name)
        checks[name] = after[1] - before[1] if before and after else 0
        cpu[name] = after[0] - before[0] if before and after else None
    per_check = {k: round(cpu[k] / checks[k] * 1e3, 3) if cpu[k] is not None and checks[k] else None for k in cpu}
    return {
        "window_s": round(window, 1),
        "loadavg_start_end": [round(first["loadavg"], 2), round(last["loadavg"], 2)],
        "checks": checks, "cpu_s": cpu, "cpu_ms_per_check": per_check,
        "ratios": {"journeyprobe / blackbox_exporter": ratio(per_check["journeyprobe"], per_check["blackbox_exporter"]),
                   "journeyprobe / aiohttp (bare)": ratio(per_check["journeyprobe"], per_check["aiohttp (bare)"]),
                   "blackbox_exporter / aiohttp (bare, spread)": ratio(per_check["blackbox_exporter"],
                                                                       per_check["aiohttp (bare, spread)"])},
        "daemon": {
            "runs_per_s": round(checks["journeyprobe"] / window, 2), "due_per_s": rate,
            "skipped_in_window": last["skipped"] - first["skipped"],
            "lateness_p50": lateness_quantile(first["lateness_buckets"], last["lateness_buckets"], 0.5),
            "lateness_p99": lateness_quantile(first["lateness_buckets"], last["lateness_buckets"], 0.99),
            "workers": args.workers, "metrics_page_bytes": last["page_bytes"], "rss_mib": round(last["rss_mib"], 1),
            "series_per_journey": last["journey_series"],
            "bytes_per_journey": last["journey_bytes"], "env": env, "detail": args.detail,
            "slo_per_journey": not args.no_slo, "agent_root": args.agent_root,
        },
        "driver": "prometheus" if prometheus else "python",
        "bare_tick_s": args.bare_tick,
    }


def report(result: dict[str, Any]) -> None:
    rows = [[name, fmt(result["cpu_ms_per_check"][name], ".3f"), fmt(result["checks"][name], ".0f"),
             fmt(result["cpu_s"][name], ".2f")] for name in result["cpu_ms_per_check"]]
    print_table(f"CPU per check, one {result['window_s']:.0f} s window (load average "
                f"{result['loadavg_start_end'][0]} -> {result['loadavg_start_end'][1]})",
                ["contender", "CPU ms/check", "checks", "CPU s"], rows)
    print_table("ratios (CPU per check)", ["pair", "ratio"], [[k, fmt(v, ".2f")] for k, v in result["ratios"].items()])
    print(f"(aiohttp (bare) starts its checks on a {result['bare_tick_s'] * 1e3:g} ms tick as the daemon does; "
          "(bare, spread) each at its own moment, as Prometheus spreads blackbox's)")
    d = result["daemon"]
    print_table("the daemon", ["", "value"], [
        ["runs/s (due)", f"{d['runs_per_s']} ({d['due_per_s']:g})"],
        ["skipped runs in the window", fmt(d["skipped_in_window"], ".0f")],
        ["start lateness p50 / p99 (from its histogram)",
         f"{fmt(d['lateness_p50']['ms'], '.1f')} / {fmt(d['lateness_p99']['ms'], '.1f')} ms "
         f"(p99 at most {fmt(d['lateness_p99']['at_most_ms'], '.0f')} ms)"],
        ["/metrics page", f"{d['metrics_page_bytes'] / 1e6:.2f} MB"],
        ["resident memory (with its workers)", f"{d['rss_mib']} MiB"],
        ["one journey on /metrics", f"{d['series_per_journey']} series, {d['bytes_per_journey']} bytes"],
        ["detail, SLO per journey, env", f"{d['detail']}, {d['slo_per_journey']}, {d['env'] or '-'}"],
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--scrape-every", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=25.0, help="seconds before the window")
    parser.add_argument("--no-slo", action="store_true", help="journeys without an SLO (default: one each)")
    parser.add_argument("--detail", default="basic", choices=["basic", "steps", "requests"])
    parser.add_argument("--daemon-env", action="append", default=[], metavar="K=V",
                        help="environment of the daemon (repeatable), e.g. JOURNEYPROBE_WORKERS=2")
    parser.add_argument("--workers", default="1", help="the daemon's `workers:` (1, N or auto)")
    parser.add_argument("--daemon-only", action="store_true", help="no blackbox_exporter and no bare loop")
    parser.add_argument("--bare-tick", type=float, default=DEFAULT_TICK,
                        help="the bare loop starts its checks on this grid (s), as the daemon does "
                             "(`schedule.tick`); 0: each at its own moment, as Prometheus spreads blackbox's")
    parser.add_argument("--agent-root", default=str(ROOT),
                        help="run the daemon from another copy of the sources (an A/B against a commit: "
                             "git archive COMMIT | tar -x -C DIR)")
    parser.add_argument("--no-prometheus", action="store_true", help="drive blackbox and scrape from here")
    parser.add_argument("--out")
    # the bench's own children
    parser.add_argument("--bare-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--driver", metavar="BLACKBOX", help=argparse.SUPPRESS)
    parser.add_argument("--daemon", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=100.0, help=argparse.SUPPRESS)
    parser.add_argument("--rate-interval", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--targets", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=600.0, help=argparse.SUPPRESS)
    parser.add_argument("--status", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        asyncio.run(bare_loop(args.bare_worker, args.rate, min(args.max_seconds, 7200), Path(args.status),
                              args.bare_tick))
        return
    if args.driver is not None:
        targets = [f"{args.base}/ok?probe={i}" for i in range(args.targets)]
        asyncio.run(drive(args.driver or None, targets, args.rate_interval, args.daemon, args.scrape_every,
                          min(args.max_seconds, 7200)))
        return
    args.journeys = max(1, min(args.journeys, 20_000))
    args.seconds = min(max(args.seconds, 5.0), 1800.0)
    args.warmup = min(max(args.warmup, 0.0), 600.0)
    folder = Path(tempfile.mkdtemp(prefix="jp-bench-sbs-"))
    try:
        result = run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {"bench": "side_by_side", "machine": machine(),
              "command": " ".join(["bench/bench_side_by_side.py", *sys.argv[1:]]), **result}
    report(result)
    write_json(f"side-by-side-{args.journeys}", result, args.out)


if __name__ == "__main__":
    main()
