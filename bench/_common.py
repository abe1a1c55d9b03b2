"""Shared helpers of the bench scripts: percentiles, tables, JSON output, child processes, /proc.

Everything here talks to 127.0.0.1 only, and every child process it starts is bounded in time
(the target exits when its stdin closes or after --max-seconds) and is ended by its pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- numbers ---------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of `values` (sorted or not); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of seconds, in milliseconds, rounded to µs."""
    if not values_s:
        return {
            "p50": float("nan"),
            "p95": float("nan"),
            "p99": float("nan"),
            "max": float("nan"),
            "mean": float("nan"),
            "n": 0,
        }
    ordered = sorted(values_s)
    return {
        "p50": round(percentile(ordered, 0.5) * 1e3, 3),
        "p95": round(percentile(ordered, 0.95) * 1e3, 3),
        "p99": round(percentile(ordered, 0.99) * 1e3, 3),
        "max": round(ordered[-1] * 1e3, 3),
        "mean": round(statistics.fmean(ordered) * 1e3, 3),
        "n": len(ordered),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def fmt(value: Any, spec: str = ".3g", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:{spec}}{unit}"


# -- output ----------------------------------------------------------------------------------------
def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain fixed-width table on stdout."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def write_json(name: str, data: dict[str, Any], path: str | None = None) -> Path:
    """Write `data` to `path`, or to bench/out/<name>-<timestamp>.json; print where."""
    target = Path(path) if path else OUT / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"wrote {target}")
    return target


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import aiohttp

        aiohttp_version = aiohttp.__version__
    except ImportError:
        aiohttp_version = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "aiohttp": aiohttp_version,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "blackbox_exporter": blackbox_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# -- /proc -----------------------------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid: int | str, key: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), KiB; 0 when absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """End one child we started, by its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


# -- the target ------------------------------------------------------------------------------------
@contextmanager
def target_process(max_seconds: float = 7200.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """bench/target.py in its own process (its CPU is not the agent's); yields (process, base URL).

    The target exits by itself when our end of its stdin closes (we died) or after `max_seconds`.
    """
    proc = subprocess.Popen(
        [PY, str(BENCH / "target.py"), "--max-seconds", str(max_seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"target did not start: {line!r}")
        port = int(line.split()[1])
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        stop_process(proc)


# -- blackbox_exporter -----------------------------------------------------------------------------
BLACKBOX_CONFIG = """modules:
  http_2xx:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: []
"""


def blackbox_binary() -> str | None:
    for name in ("prometheus-blackbox-exporter", "blackbox_exporter"):
        found = shutil.which(name)
        if found:
            return found
    return (
        "/usr/bin/prometheus-blackbox-exporter"
        if Path("/usr/bin/prometheus-blackbox-exporter").exists()
        else None
    )


def blackbox_version() -> str | None:
    binary = blackbox_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


@contextmanager
def blackbox_process() -> Iterator[tuple[subprocess.Popen[bytes], str] | None]:
    """blackbox_exporter on a free loopback port with an `http_2xx` module; None when not installed."""
    binary = blackbox_binary()
    if binary is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="jp-bench-bbe-") as tmp:
        config = Path(tmp) / "blackbox.yml"
        config.write_text(BLACKBOX_CONFIG)
        port = free_port()
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            yield proc, f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc)


def probe_duration(text: str) -> tuple[float | None, bool]:
    """probe_duration_seconds and probe_success from a blackbox /probe response body."""
    duration: float | None = None
    success = False
    for line in text.splitlines():
        if line.startswith("probe_duration_seconds "):
            duration = float(line.split()[1])
        elif line.startswith("probe_success "):
            success = float(line.split()[1]) == 1.0
    return duration, success


# -- driving things at a fixed concurrency ---------------------------------------------------------
async def at_concurrency(
    count: int, concurrency: int, one: Any, max_seconds: float
) -> tuple[int, int, float]:
    """Call `await one()` `count` times, `concurrency` at once, stopping at `max_seconds`.

    `one()` returns True on success. Returns (done, succeeded, wall seconds).
    """
    left = count
    done = ok = 0
    deadline = time.perf_counter() + max_seconds

    async def lane() -> None:
        nonlocal left, done, ok
        while left > 0 and time.perf_counter() < deadline:
            left -= 1
            if await one():
                ok += 1
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(max(1, concurrency))))
    return done, ok, time.perf_counter() - started


def journey_dict(name: str, url: str, interval: float = 60.0, slo: bool = False) -> dict[str, Any]:
    """A single-step HTTP journey, as a YAML file would give it."""
    data: dict[str, Any] = {
        "name": name,
        "interval": interval,
        "steps": [{"name": "get", "http": {"url": url}, "expect": ["status == 200"]}],
    }
    if slo:
        data["slos"] = [
            {
                "name": f"{name}-availability",
                "indicator": "success",
                "objective": "99.9%",
                "window": "28d",
                "owner": "bench",
            }
        ]
    return data


def round_robin_check(runner: Any, journeys: Sequence[Any], store: Any, sinks: Sequence[Any]) -> Any:
    """One check per call, journeys in turn: what the daemon does with a finished run
    (`Daemon.publish`: the store with SLO verdicts, then every sink), without the scheduler."""
    from agent.slo.indicator import verdicts

    turn = 0

    async def check() -> bool:
        nonlocal turn
        journey = journeys[turn % len(journeys)]
        turn += 1
        result = await runner.run(journey)
        if store is not None:
            await store.add(result, verdicts(journey, result))
        for sink in sinks:
            sink(result, journey)
        return bool(result.passed)

    return check


async def curl_write_out(url: str, write_out: str) -> str:
    """`curl -s -o /dev/null -w WRITE_OUT URL` in its own process (bounded to 10 s); its output."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", "/dev/null", "--max-time", "10", "-w", write_out, url,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    return out.decode()
