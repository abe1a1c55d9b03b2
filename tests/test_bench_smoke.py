"""Each bench script runs with tiny counts, prints its table and writes its JSON (loopback only)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run(script: str, *args: str, tmp_path: Path, timeout: float = 120) -> tuple[str, dict]:  # type: ignore[type-arg]
    out = tmp_path / f"{script}.json"
    done = subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def test_cost(tmp_path: Path) -> None:
    stdout, data = run("bench_cost.py", "--checks", "12", "--rounds", "1", "--warmup", "2",
                       "--concurrency", "3", tmp_path=tmp_path)
    assert "Cost of a check" in stdout and "Ratios, pair by pair" in stdout
    median = data["median"]
    for name in ("journeyprobe", "journeyprobe+telemetry", "journeyprobe+daemon", "aiohttp (bare)"):
        assert median[name]["success_ratio"] == 1.0, name
        assert median[name]["cpu_ms_per_check"] > 0
    assert "journeyprobe / aiohttp (bare)" in data["ratios"]
    if data["blackbox"]:
        assert median["blackbox_exporter"]["success_ratio"] == 1.0


def test_precision(tmp_path: Path) -> None:
    stdout, data = run("bench_precision.py", "--delays", "20", "--samples", "2", "--warmup", "0",
                       tmp_path=tmp_path)
    assert "Duration error" in stdout
    row = data["errors"]["20"]
    assert row["journeyprobe"]["n"] == 2
    # a 20 ms delay is never measured as shorter than it is
    assert row["journeyprobe"]["min_ms"] >= 0
    if shutil.which("curl"):
        assert row["journeyprobe_minus_curl_ms"] is not None


def test_daemon(tmp_path: Path) -> None:
    stdout, data = run("bench_daemon.py", "--journeys", "15", "--interval", "1", "--seconds", "3",
                       "--scrape-every", "1", tmp_path=tmp_path)
    assert "journeyprobe daemon" in stdout and "start lateness" in stdout
    assert data["runs"] >= 15
    assert set(data["outcomes"]) == {"success"}
    assert data["store_written"] >= data["runs"] - data["in_flight_at_end"] - 15
    assert data["scrapes"]["count"] >= 1 and data["peak_rss_mib"] > 0


def test_punctuality_without_control(tmp_path: Path) -> None:
    stdout, data = run("bench_punctuality.py", "--journeys", "10", "--interval", "1", "--seconds", "2",
                       "--control-seconds", "0", tmp_path=tmp_path)
    assert "Start lateness" in stdout
    assert data["results"]["10"]["daemon"]["runs"] > 0


def test_startup(tmp_path: Path) -> None:
    stdout, data = run("bench_startup.py", "--runs", "1", "--warmup", "0", "--no-hyperfine",
                       tmp_path=tmp_path)
    assert "Start-up" in stdout
    assert data["results"]["journeyprobe check (1 step)"]["exit_codes"] == [0]


def test_ablation(tmp_path: Path) -> None:
    stdout, data = run("ablation.py", "--checks", "6", "--rounds", "1", "--concurrency", "2",
                       "--only", "runner as is,environ,+telemetry as is", tmp_path=tmp_path)
    assert "each proposed fix" in stdout
    assert set(data["median_us"]) == {"runner as is", "runner, environ read live", "runner, environ + shield",
                                      "+telemetry as is"}
    assert not any(data["failures"].values())


@pytest.mark.skipif(shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists(),
                    reason="py-spy is not installed")
def test_profile_summarizes(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from profile_hot import summarize
    finally:
        sys.path.remove(str(BENCH))
    raw = tmp_path / "x.raw"
    raw.write_text("main (a.py:1);work (agent/probe/runner.py:5);leaf (aiohttp/client.py:9) 3\n"
                   "main (a.py:1);other (b.py:2) 1\n")
    summary = summarize(raw, 10)
    assert summary["samples"] == 4
    assert dict(summary["inclusive_pct"])["main (a.py)"] == 100.0
    assert dict(summary["library_pct"])["aiohttp"] == 75.0


def test_side_by_side(tmp_path: Path) -> None:
    stdout, data = run("bench_side_by_side.py", "--journeys", "20", "--interval", "2", "--seconds", "5",
                       "--warmup", "3", "--scrape-every", "2", "--no-prometheus", tmp_path=tmp_path, timeout=240)
    assert "CPU per check" in stdout and "journeyprobe / blackbox_exporter" in stdout
    assert data["checks"]["journeyprobe"] > 0 and data["cpu_ms_per_check"]["journeyprobe"] > 0
    assert data["checks"]["aiohttp (bare)"] > 0
    assert 0 < data["daemon"]["series_per_journey"] <= 17


def test_metrics(tmp_path: Path) -> None:
    stdout, data = run("bench_metrics.py", "--journeys", "20", "--rounds", "1", tmp_path=tmp_path)
    assert "record µs/run" in stdout
    assert {r["contender"] for r in data["results"]} == {"otel", "library", "journeyprobe"}
