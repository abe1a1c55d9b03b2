"""A target cannot grow /metrics: server.address/port come from the journey's own URL, and each journey
has a hard cap on its HTTP client series."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from aiohttp import web

from agent.probe.runner import Runner
from exporters.prometheus import parse_exposition
from exporters.series_cap import SeriesCap
from exporters.telemetry import Telemetry
from tests.conftest import journey
from tests.targets import serve

SERIES = "http_client_request_duration_seconds_count"


@asynccontextmanager
async def hostile_target() -> AsyncIterator[str]:
    chance = random.Random(15)

    async def elsewhere(request: web.Request) -> web.Response:
        host = f"127.{chance.randrange(1, 255)}.{chance.randrange(1, 255)}.{chance.randrange(1, 255)}"
        raise web.HTTPFound(f"http://{host}:{chance.randrange(1024, 65535)}/x")

    async def any_status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.query["s"]), text="as you like")

    app = web.Application()
    app.router.add_get("/elsewhere", elsewhere)
    app.router.add_get("/status", any_status)
    async with serve(app) as url:
        yield url


def series(telemetry: Telemetry) -> list[dict[str, str]]:
    return [labels for labels, _ in parse_exposition(telemetry.metrics()[0].decode()).get(SERIES, [])]


async def test_redirects_to_random_hosts_and_ports_add_no_series() -> None:
    telemetry = Telemetry(prometheus=True, detail="requests")  # the HTTP client histogram is opt-in
    runner = Runner(observer_factory=telemetry.observer)
    try:
        async with hostile_target() as url:
            flow = journey([{"name": "go", "http": {"url": f"{url}/elsewhere"}}], timeout="5s")
            for _ in range(40):
                result = await runner.run(flow)
                assert result.error_type == "connection_refused", result.error
        seen = series(telemetry)
        port = url.rsplit(":", 1)[1]
        assert len(seen) == 1, seen
        assert (seen[0]["server_address"], seen[0]["server_port"]) == ("127.0.0.1", port)
    finally:
        telemetry.shutdown()


async def test_a_journey_has_a_hard_cap_on_its_series() -> None:
    telemetry = Telemetry(prometheus=True, detail="requests")  # the HTTP client histogram is opt-in
    telemetry.hooks = replace(telemetry.hooks, series=SeriesCap(10))
    runner = Runner(observer_factory=telemetry.observer)
    try:
        async with hostile_target() as url:
            for status in range(200, 240):  # a target that answers a new status every time
                await runner.run(journey([{"name": "get", "http": {"url": f"{url}/status?s={status}"}}],
                                         name="statuses"))
            await runner.run(journey([{"name": "get", "http": {"url": f"{url}/status?s=200"}}], name="other"))
        seen = series(telemetry)
        mine = [s for s in seen if s["journey_name"] == "statuses"]
        assert len(mine) == 11, mine  # ten, then one overflow series
        overflow = [{k: v for k, v in s.items() if v} for s in mine if s.get("otel_metric_overflow") == "true"]
        assert overflow == [{"journey_name": "statuses", "otel_metric_overflow": "true"}]
        assert [s["journey_name"] for s in seen if s["journey_name"] != "statuses"] == ["other"]
    finally:
        telemetry.shutdown()
