"""/metrics as a real Prometheus server scrapes it: names and labels as docs/interfaces.md promises."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config.models import AgentConfig
from agent.probe.context import ProbeSettings
from agent.probe.runner import Runner
from agent.web.server import start_server
from agent.web.state import AgentState
from exporters.prometheus import parse_exposition
from exporters.telemetry import Telemetry
from tests.conftest import journey
from tests.prom_helpers import poll, prometheus_starter, query
from tests.targets import Seen


async def served_telemetry(telemetry: Telemetry) -> tuple[Any, str]:
    state = AgentState(config=AgentConfig.model_validate({"server": {"listen": "127.0.0.1:0"}}))
    state.metrics = telemetry.metrics
    return await start_server(state)


async def record_runs(telemetry: Telemetry, url: str) -> None:
    runner = Runner(ProbeSettings(location="tokyo-1"), observer_factory=telemetry.observer)
    good = journey([{"name": "home", "http": {"url": f"{url}/json"}, "expect": ["status == 200"]}],
                   name="checkout", labels={"team": "shop"})
    bad = journey([{"name": "pay", "http": {"url": f"{url}/status/503"}, "expect": ["status == 200"]}],
                  name="checkout-broken", labels={"team": "shop"})
    for j in (good, good, bad):
        telemetry.record(await runner.run(j), j)
    telemetry.register_slo_gauges(lambda: [
        ("slo.objective", {"slo.name": "checkout-availability", "journey.name": "checkout"}, 0.99),
        ("slo.sli", {"slo.name": "checkout-availability", "slo.window": "1h"}, 0.995),
        ("slo.error_budget.remaining", {"slo.name": "checkout-availability"}, 0.5),
        ("slo.burn_rate", {"slo.name": "checkout-availability", "slo.window": "1h"}, 0.5)])


async def test_exposition_names_follow_the_contract(target: tuple[str, Seen]) -> None:
    url, _ = target
    telemetry = Telemetry(location="tokyo-1", detail="requests")  # every family: the most detailed level
    try:
        await record_runs(telemetry, url)
        body, content_type = telemetry.metrics()
    finally:
        await telemetry.aclose()
    assert content_type.startswith("text/plain")
    samples = parse_exposition(body.decode())
    for name in ("journey_runs_total", "journey_duration_seconds_bucket", "journey_duration_seconds_count",
                 "journey_step_duration_seconds_sum", "journey_success",
                 "http_client_request_duration_seconds_count", "slo_objective_ratio", "slo_sli_ratio",
                 "slo_error_budget_remaining_ratio", "slo_burn_rate_ratio", "target_info"):
        assert name in samples, f"{name} missing from /metrics"
    runs = {(labels["journey_name"], labels["journey_outcome"], labels.get("error_type", "")): value
            for labels, value in samples["journey_runs_total"]}
    assert runs == {("checkout", "success", ""): 2.0, ("checkout-broken", "failure", "assertion"): 1.0}
    keys = {key for series in samples.values() for labels, _ in series for key in labels}
    assert not any(key.startswith("otel_scope") or "url" in key for key in keys)


@pytest.fixture
async def prometheus(tmp_path: Path) -> AsyncIterator[Any]:
    async for start in prometheus_starter(tmp_path):
        yield start


async def test_real_prometheus_scrapes_journey_runs(target: tuple[str, Seen], prometheus: Any) -> None:
    url, _ = target
    telemetry = Telemetry(location="tokyo-1")
    server, base_url = await served_telemetry(telemetry)
    try:
        await record_runs(telemetry, url)
        prom = await prometheus(base_url.removeprefix("http://"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async def target_up() -> bool:
                async with session.get(f"{prom}/api/v1/targets") as response:
                    active = (await response.json())["data"]["activeTargets"]
                return bool(active) and active[0]["health"] == "up"

            await poll(target_up, 40, "Prometheus never scraped /metrics successfully")
            results = await poll(lambda: query(session, prom, "journey_runs_total"), 20,
                                  "journey_runs_total never showed up in Prometheus")
            series = {(r["metric"]["journey_name"], r["metric"]["journey_outcome"]): r for r in results}
            assert set(series) == {("checkout", "success"), ("checkout-broken", "failure")}
            ok = series[("checkout", "success")]
            assert ok["metric"] == {"__name__": "journey_runs_total", "job": "journeyprobe",
                                    "instance": base_url.removeprefix("http://"), "journey_name": "checkout",
                                    "journey_outcome": "success", "probe_location": "tokyo-1", "team": "shop"}
            assert float(ok["value"][1]) == 2.0
            failed = series[("checkout-broken", "failure")]
            assert failed["metric"]["error_type"] == "assertion" and float(failed["value"][1]) == 1.0

            ratio = await query(session, prom, 'sum(journey_runs_total{journey_outcome="success"})'
                                               " / sum(journey_runs_total)")
            assert float(ratio[0]["value"][1]) == pytest.approx(2 / 3)
            for name in ("journey_duration_seconds_count", "journey_step_duration_seconds_bucket",
                         "journey_success", "slo_sli_ratio", "slo_burn_rate_ratio", "target_info"):
                assert await query(session, prom, name), f"{name} not in Prometheus"
            info = (await query(session, prom, "target_info"))[0]["metric"]
            assert info["service_name"] == "journeyprobe" and info["probe_location"] == "tokyo-1"
    finally:
        await server.cleanup()
        await telemetry.aclose()
