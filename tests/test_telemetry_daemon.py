"""`install(daemon)`: a real daemon with /metrics, OTLP and jsonl wired from agent.yaml."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from agent.config.models import AgentConfig
from agent.core import metric_names as n
from agent.daemon.lifecycle import Daemon
from exporters.prometheus import parse_exposition
from tests.otlp_receiver import otlp_receiver
from tests.targets import Seen, serve, target_app

SELF_METRICS = ("journeyprobe_runs_in_flight", "journeyprobe_runs_skipped_total",
                "journeyprobe_export_failures_total", "journeyprobe_store_write_lag_seconds",
                "journeyprobe_store_pending", "journeyprobe_results_dropped_total",
                "journeyprobe_config_last_reload_success_timestamp_seconds")


async def test_daemon_serves_metrics_exports_otlp_and_writes_jsonl(tmp_path: Path) -> None:
    seen = Seen()
    async with serve(target_app(seen)) as url, otlp_receiver(encoding="gzip") as receiver:
        (tmp_path / "shop.yaml").write_text(f"""
name: shop
interval: 1s
labels: {{team: web}}
steps:
  - name: home
    http: {{url: "{url}/json"}}
""")
        config = AgentConfig.model_validate({
            "location": "lab", "journeys": [str(tmp_path / "*.yaml")],
            "storage": {"path": str(tmp_path / "jp.db"), "flush_interval": "100ms"},
            "server": {"listen": "127.0.0.1:0"},
            "exporters": {"otlp": {"endpoint": receiver.url, "interval": "300ms", "timeout": "2s"},
                          "jsonl": {"path": str(tmp_path / "results.jsonl")}}})
        daemon = Daemon(config)
        await daemon.start()
        try:
            assert daemon.parts is not None
            telemetry = daemon.parts.telemetry
            sli = ("slo.sli", {"slo.name": "shop", "slo.window": "5m"}, 1.0)
            telemetry.register_slo_gauges(lambda: [sli])
            async with aiohttp.ClientSession() as session:
                async with asyncio.timeout(20):
                    while True:
                        async with session.get(f"{daemon.base_url}/metrics") as response:
                            assert response.status == 200
                            samples = parse_exposition(await response.text())
                        if sum(v for _, v in samples.get("journey_runs_total", [])) >= 2:
                            break
                        await asyncio.sleep(0.2)
            for name in SELF_METRICS:
                assert name in samples, f"{name} missing"
            assert samples["journeyprobe_config_last_reload_success_timestamp_seconds"][0][1] > 1.6e9
            dropped = samples["journeyprobe_results_dropped_total"]
            assert {labels["sink"] for labels, _ in dropped} == {"store", "jsonl"}
            assert samples["slo_sli_ratio"] == [  # the agent's location is added to every SLO gauge
                ({"slo_name": "shop", "slo_window": "5m", "probe_location": "lab"}, 1.0)]
            labels, _ = samples["journey_runs_total"][0]
            assert labels == {"journey_name": "shop", "journey_outcome": "success", "probe_location": "lab",
                              "team": "web"}
            await receiver.wait_for(lambda r: r.latest(n.JOURNEY_RUNS) is not None, within=10)
        finally:
            await asyncio.wait_for(daemon.stop(), 30)
    traced = {s.trace_id.hex() for s in receiver.spans()}
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(lines) >= 2 and {line["journey"] for line in lines} == {"shop"}
    assert {line["trace_id"] for line in lines} <= traced  # the final flush exported every run's spans
    sent = {h["traceparent"].split("-")[1] for h in seen.headers("/json")}
    assert sent == {line["trace_id"] for line in lines}
