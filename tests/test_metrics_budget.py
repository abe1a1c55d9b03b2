"""What a journey costs on /metrics: the default budget on a real Prometheus scrape, the opt-in
detail, and the page checked by Prometheus's own tools (promtool, a real scrape)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config.models import AgentConfig, OtlpConfig
from agent.core import metric_names as n
from agent.daemon.lifecycle import Daemon
from agent.probe.context import ProbeSettings
from agent.probe.result import Outcome, RunResult, StepResult
from agent.probe.runner import Runner
from exporters.journey_series import DURATION, JourneySeries
from exporters.otlp import resolve
from exporters.prometheus import parse_exposition
from exporters.telemetry import Telemetry
from tests.conftest import journey
from tests.otlp_receiver import otlp_receiver
from tests.prom_helpers import PROMTOOL, poll, prometheus_starter, query
from tests.targets import Seen

BUDGET_SERIES = 17  # blackbox_exporter's answer to one HTTP probe
BUDGET_BYTES = 2048


def journey_file(folder: Path, name: str, url: str, steps: int = 1, extra: str = "") -> None:
    body = "".join(f"""
  - name: step-{i}
    http: {{url: "{url}/json"}}
    expect: ["status == 200"]""" for i in range(steps))
    (folder / f"{name}.yaml").write_text(f"name: {name}\ninterval: 1s\n{extra}steps:{body}\n")


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[Any]:
    async for start in prometheus_starter(tmp_path):
        yield start


def lines_of(page: str, name: str) -> list[str]:
    return [line for line in page.splitlines() if f'journey_name="{name}"' in line]


async def test_a_one_step_journey_costs_no_more_than_a_blackbox_probe(
        tmp_path: Path, target: tuple[str, Seen], prometheus: Any) -> None:
    url, _ = target
    folder = tmp_path / "journeys"
    folder.mkdir()
    journey_file(folder, "checkout", url)
    journey_file(folder, "basket", url, steps=3)
    journey_file(folder, "detailed", url, extra="telemetry: {detail: requests}\n")
    config = AgentConfig.model_validate({
        "location": "eu-west-1", "journeys": [str(folder / "*.yaml")],
        "storage": {"path": str(tmp_path / "jp.db")}, "server": {"listen": "127.0.0.1:0"}})
    daemon = Daemon(config)
    await daemon.start()
    try:
        prom = await prometheus(daemon.base_url.removeprefix("http://"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async def scraped_runs() -> bool:
                found = await query(session, prom, 'journey_runs_total{journey_name="detailed"}')
                return bool(found)

            await poll(scraped_runs, 60, "Prometheus never scraped a journey run")
            counts = {}
            for name in ("checkout", "basket", "detailed"):
                found = await query(session, prom, f'count({{journey_name="{name}"}})')
                counts[name] = int(found[0]["value"][1])
            async with session.get(f"{daemon.base_url}/metrics") as response:
                page = await response.text()
    finally:
        await asyncio.wait_for(daemon.stop(), 30)
    lateness = parse_exposition(page)["journeyprobe_run_start_lateness_seconds_count"]
    assert lateness[0][1] >= 3  # the agent's own schedule keeping, one histogram for every journey
    one_step = lines_of(page, "checkout")
    assert counts["checkout"] == len(one_step) <= BUDGET_SERIES, one_step
    assert sum(len(line) + 1 for line in one_step) <= BUDGET_BYTES
    assert counts["basket"] - counts["checkout"] == 2 * 3  # each added step: its count, sum and +Inf bucket
    assert counts["detailed"] > 2 * counts["checkout"]  # the opt-in: step buckets, the HTTP client histogram
    assert any(line.startswith("http_client_request_duration_seconds_bucket") for line in lines_of(page, "detailed"))
    assert not any(line.startswith("http_client") for line in one_step)


def promtool_check(page: str) -> str:
    """promtool's lint of an exposition; its complaints (empty when it has none)."""
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip(f"{PROMTOOL} is not installed (apt-get install prometheus)")
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=page, capture_output=True, text=True, timeout=30)
    return (done.stdout + done.stderr).strip() if done.returncode else ""


async def test_every_detail_level_passes_promtool_and_prometheus_parser(target: tuple[str, Seen]) -> None:
    url, _ = target
    telemetry = Telemetry(location="lab")
    runner = Runner(ProbeSettings(location="lab"), observer_factory=telemetry.observer)
    for detail in ("basic", "steps", "requests"):
        j = journey([{"name": "home", "http": {"url": f"{url}/json"}, "expect": ["status == 200"]},
                     {"name": "bad", "http": {"url": f"{url}/status/503"}, "expect": ["status == 200"]}],
                    name=f"j-{detail}", labels={"team": 'a "quoted" \\ team'}, telemetry={"detail": detail},
                    slos=[{"name": "fast", "indicator": {"latency": "300ms"}, "objective": "99%", "owner": "x"}])
        telemetry.record(await runner.run(j), j)
    telemetry.register_slo_gauges(lambda: [("slo.sli", {"slo.name": "fast", "slo.window": "1h"}, 0.5)])
    page = telemetry.metrics()[0].decode()
    await telemetry.aclose()
    assert promtool_check(page) == ""
    samples = parse_exposition(page)
    bounds = {labels["journey_name"]: set() for labels, _ in samples["journey_duration_seconds_bucket"]}
    for labels, _ in samples["journey_duration_seconds_bucket"]:
        bounds[labels["journey_name"]].add(labels["le"])
    assert "0.3" in bounds["j-basic"]  # the latency SLO's threshold is a bound whatever the detail
    assert len(bounds["j-steps"]) > len(bounds["j-basic"])
    step_buckets = {labels["journey_name"] for labels, _ in samples["journey_step_duration_seconds_bucket"]
                    if labels["le"] != "+Inf"}
    assert step_buckets == {"j-steps", "j-requests"}
    assert {labels["journey_name"] for labels, _ in samples["http_client_request_duration_seconds_count"]} == {
        "j-requests"}
    assert {labels["team"] for labels, _ in samples["journey_runs_total"]} == {'a "quoted" \\ team'}


def result(name: str, seconds: float) -> RunResult:
    return RunResult(journey=name, outcome=Outcome.SUCCESS, started_at=datetime.now(UTC), duration_s=seconds,
                     trace_id="0" * 32, location="lab", steps=(StepResult("get", Outcome.SUCCESS, seconds),))


def test_a_scrape_writes_again_only_the_journeys_that_ran() -> None:
    series = JourneySeries("lab")
    for name in ("a", "b"):
        series.record(result(name, 0.2))
    first = "".join(series.families())
    a, b = series.blocks()
    kept_a, kept_b = a.text(DURATION), b.text(DURATION)
    series.record(result("a", 0.4))
    second = "".join(series.families())
    assert first != second
    assert b.text(DURATION) is kept_b  # b did not run: its lines were not written again
    assert a.text(DURATION) != kept_a


def test_scrapes_in_a_thread_never_see_a_half_recorded_run() -> None:
    series = JourneySeries("lab")
    pages: list[str] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set() and len(pages) < 400:
            pages.append("".join(series.families()))

    thread = threading.Thread(target=scrape)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as it goes: mid-record, sooner or later
    thread.start()
    try:
        for i in range(20_000):
            series.record(result(f"j{i % 50}", (i % 7) / 10))
    finally:
        stop.set()
        thread.join(30)
        sys.setswitchinterval(interval)
    assert pages
    for page in pages:
        samples = parse_exposition(page)
        infinite = {labels["journey_name"]: v for labels, v in samples.get("journey_duration_seconds_bucket", [])
                    if labels["le"] == "+Inf"}
        counts = {labels["journey_name"]: v for labels, v in samples.get("journey_duration_seconds_count", [])}
        runs = {labels["journey_name"]: v for labels, v in samples.get("journey_runs_total", [])}
        assert infinite == counts == runs


async def test_otlp_gets_exponential_histograms_and_the_same_detail(target: tuple[str, Seen]) -> None:
    url, _ = target
    async with otlp_receiver() as receiver:
        telemetry = Telemetry(location="lab", prometheus=False,
                              otlp=resolve(OtlpConfig(endpoint=receiver.url, interval=60, timeout=5), {}))
        try:
            runner = Runner(ProbeSettings(location="lab"), observer_factory=telemetry.observer)
            j = journey([{"name": "home", "http": {"url": f"{url}/json"}}], name="checkout")
            telemetry.record(await runner.run(j), j)
        finally:
            await telemetry.aclose(10)
    duration = receiver.latest(n.JOURNEY_DURATION)
    assert duration is not None and duration.WhichOneof("data") == "exponential_histogram"
    point = duration.exponential_histogram.data_points[0]
    assert point.count == 1 and point.exemplars  # one point, the run's trace id with it
    assert receiver.latest(n.JOURNEY_STEP_DURATION) is not None
    assert receiver.latest(n.HTTP_CLIENT_DURATION) is None  # `requests` detail only


async def test_otlp_keeps_every_journey_of_a_fleet() -> None:
    """The SDK folds series past 2,000 per instrument into one overflow series unless told otherwise."""
    async with otlp_receiver() as receiver:
        telemetry = Telemetry(location="lab", prometheus=False,
                              otlp=resolve(OtlpConfig(endpoint=receiver.url, interval=60, timeout=5), {}))
        try:
            for i in range(2100):
                telemetry.record(result(f"j{i:04d}", 0.1))
        finally:
            await telemetry.aclose(10)
    points = receiver.points(n.JOURNEY_RUNS)
    assert len(points) == 2100
    assert not any("otel.metric.overflow" in str(p) for p in points)
    assert len(receiver.points(n.JOURNEY_DURATION)) == 2100
