"""End to end: a daemon probing a failing target pages through a webhook and serves /api/v1/slos."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.config.models import AgentConfig
from agent.daemon.lifecycle import Daemon
from tests.daemon_helpers import wait_for
from tests.targets import Seen
from tests.test_alert_senders import receiver

JOURNEY = """\
name: {name}
interval: 1s
steps:
  - name: home
    http: {{url: "{url}"}}
    expect: [status == 200]
slos:
  - name: {name}-success
    objective: 99%
    window: 28d
    owner: On-call
"""


@pytest.mark.parametrize("slo_windows", [None, "all"])
async def test_daemon_pages_on_a_failing_target_and_lists_slos(tmp_path: Path, target: tuple[str, Seen],
                                                              slo_windows: str | None) -> None:
    url, _ = target
    (tmp_path / "ok.yaml").write_text(JOURNEY.format(name="ok", url=f"{url}/status/200"))
    (tmp_path / "broken.yaml").write_text(JOURNEY.format(name="broken", url=f"{url}/status/503"))
    bodies: list[dict[str, Any]] = []
    alerted = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        alerted.set()
        return web.Response()

    async with receiver(hook) as hook_url:
        config = AgentConfig.model_validate({
            "location": "test", "journeys": [str(tmp_path / "*.yaml")],
            "storage": {"path": str(tmp_path / "jp.db"), "flush_interval": "0.1s"},
            "server": {"listen": "127.0.0.1:0", "public_url": "http://status.example"},
            "exporters": {"prometheus": True}, "alerts": {"evaluate_every": "0.2s"},
            "alerting": [{"webhook": {"url": hook_url}}],
            **({"telemetry": {"slo_windows": slo_windows}} if slo_windows else {})})
        daemon = Daemon(config)
        await daemon.start()
        try:
            assert daemon.parts is not None
            service = daemon.parts.slo
            await asyncio.wait_for(alerted.wait(), 60)  # safety net only: the page arrives in seconds

            async def both_ran() -> bool:  # and the healthy journey has run too
                return all(s["events"] for s in await service.status())

            await wait_for(both_ran, timeout=60)
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{daemon.base_url}/api/v1/slos") as response:
                    assert response.status == 200
                    slos = await response.json()
                await service.evaluate()  # the gauges are a snapshot of the last evaluation
                async with session.get(f"{daemon.base_url}/metrics") as response:
                    metrics = await response.text() if response.status == 200 else ""
        finally:
            await daemon.stop()
    assert bodies, "no alert reached the webhook"
    first = bodies[0]
    assert (first["kind"], first["severity"], first["slo"], first["journey"]) == (
        "firing", "page", "broken-success", "broken")
    assert first["status_page"] == "http://status.example" and first["location"] == "test"
    by_name = {s["name"]: s for s in slos}
    assert set(by_name) == {"ok-success", "broken-success"}
    assert by_name["ok-success"]["sli"] == 1.0 and by_name["ok-success"]["alerts"] == []
    assert by_name["broken-success"]["sli"] == 0.0
    assert by_name["broken-success"]["alerts"][0]["severity"] == "page"
    prefix = 'slo_burn_rate_ratio{journey_name="broken",probe_location="test",slo_name="broken-success",slo_window="'
    burn = {line[len(prefix):].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines() if line.startswith(prefix)}
    assert round(burn.pop("28d"), 6) == 100  # the SLO's own window: every run failed, at a 1% budget
    # the alerting windows' gauges only when asked for (the rules compute them from the counters)
    assert set(burn) == ({"5m", "30m", "1h", "2h", "6h", "1d", "3d"} if slo_windows == "all" else set())
    assert 'slo_objective_ratio{journey_name="ok",probe_location="test",slo_name="ok-success"} 0.99' in metrics
