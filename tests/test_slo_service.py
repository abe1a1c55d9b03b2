"""The SLO service as the daemon runs it, the /api/v1/slos shape, the gauges and `journeyprobe slo`."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

from agent.cli.slo import slo_command
from agent.config.models import AgentConfig
from agent.daemon.slo_service import SloService
from agent.slo.indicator import verdicts
from agent.slo.status import gauge_points
from agent.store.sqlite import Store
from tests.daemon_helpers import wait_for
from tests.test_slo_fixtures import run_result, slo_journey

API_KEYS = ["name", "journey", "indicator", "objective", "window", "owner", "sli", "error_budget_remaining",
            "burn_rates", "alerts"]
JOURNEYS = [
    slo_journey("checkout", slos=[
        {"name": "checkout-success", "objective": "99.5%", "window": "28d", "owner": "Head of Product",
         "description": "Customers can pay"},
        {"name": "checkout-fast", "indicator": {"latency": "2.5s"}, "objective": "99%", "window": "28d",
         "owner": "CTO"}]),
    slo_journey("search", interval="30s"),
]


def config(tmp_path: Path, **extra: object) -> AgentConfig:
    return AgentConfig.model_validate({"storage": {"path": str(tmp_path / "jp.db")},
                                       "alerts": {"evaluate_every": "0.05s"}, **extra})


def minute_now() -> float:
    """Now, on a whole minute: runs placed relative to it land in known minutes of the real windows."""
    return time.time() // 60 * 60


async def fill(store: Store, now: float) -> None:
    for i in range(120):
        for journey in JOURNEYS[:1]:
            agent_failure = i % 20 == 0  # the probe host failed: excluded, not bad
            result = run_result(journey.name, now - i * 60 - 30, passed=not agent_failure,
                                agent_side=agent_failure, duration=0.5 + (i % 2))
            await store.add(result, verdicts(journey, result))
    await store.flush()


async def test_service_runs_evaluates_and_serves_the_api_shape(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    store = await Store.open(cfg.storage.path, flush_interval=0.05)
    now = minute_now()
    await fill(store, now)
    loaded = False
    service = SloService(cfg, store, lambda: JOURNEYS if loaded else None)
    await service.start()
    await wait_for(lambda: service.evaluations >= 2)
    assert service.engine.trackers == {} and service.reports == []  # journeys not loaded yet: waits
    loaded = True
    await wait_for(lambda: service.reports and all(r.loaded for r in service.reports))
    result = run_result("checkout", now + 5, passed=False)
    service.observe(result, JOURNEYS[0])
    status = await service.status()
    await service.close()
    assert service.errors == 0
    assert [(e["journey"], e["name"]) for e in status] == [
        ("checkout", "checkout-fast"), ("checkout", "checkout-success"), ("search", "search-success")]
    entry = status[1]
    assert list(entry)[:len(API_KEYS)] == API_KEYS
    assert entry["indicator"] == "success" and status[0]["indicator"] == {"latency": 2.5}
    assert (entry["objective"], entry["window"], entry["owner"]) == (0.995, "28d", "Head of Product")
    assert list(entry["burn_rates"]) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert (entry["events"], entry["good"], entry["excluded"], entry["alerts"]) == (115, 114, 6, [])
    assert 0 < entry["sli"] < 1 and entry["error_budget_remaining"] < 1
    assert entry["description"] == "Customers can pay"
    json.dumps(status)  # serialisable as is
    assert status[2]["sli"] is None and status[2]["burn_rates"]["1h"] is None  # no runs: no SLI, not 100%

    points = service.gauges()
    names = {(name, tuple(sorted(attrs))) for name, attrs, _ in points}
    assert names == {("slo.objective", ("journey.name", "slo.name")),
                     ("slo.sli", ("journey.name", "slo.name", "slo.window")),
                     ("slo.burn_rate", ("journey.name", "slo.name", "slo.window")),
                     ("slo.error_budget.remaining", ("journey.name", "slo.name"))}
    windows = {attrs["slo.window"] for name, attrs, _ in points if name == "slo.sli"
               and attrs["slo.name"] == "checkout-success"}
    assert windows == {"28d"}  # the SLO's own window (the rules compute the alerting windows from the counters)
    every = {attrs["slo.window"] for name, attrs, _ in gauge_points(service.reports, every_window=True)
             if name == "slo.sli" and attrs["slo.name"] == "checkout-success"}
    assert every == {"28d", "5m", "30m", "1h", "2h", "6h", "1d", "3d"}  # telemetry.slo_windows: all
    assert ("slo.objective", {"slo.name": "search-success", "journey.name": "search"}, 0.99) in points
    assert not [p for p in points if p[1].get("slo.name") == "search-success" and p[0] != "slo.objective"]
    await store.close()


def test_slo_command_prints_json_and_a_table(tmp_path: Path) -> None:
    cfg = config(tmp_path)

    async def prepare() -> None:
        store = await Store.open(cfg.storage.path)
        now = minute_now()
        await fill(store, now)
        await store.put_alert_state("checkout/checkout-success", "page", "firing", now - 600, now - 600,
                                    {"summary": "Checkout success is burning its error budget",
                                     "burn_rate": 20.0})
        await store.close()

    asyncio.run(prepare())
    out = io.StringIO()
    assert slo_command(cfg, JOURNEYS, as_json=True, out=out) == 0
    entries = json.loads(out.getvalue())
    success = next(e for e in entries if e["name"] == "checkout-success")
    assert (success["events"], success["excluded"]) == (114, 6)
    assert [a["severity"] for a in success["alerts"]] == ["page"]
    assert success["alerts"][0]["summary"] == "Checkout success is burning its error budget"

    table = io.StringIO()
    assert slo_command(cfg, JOURNEYS, as_json=False, out=table) == 0
    text = table.getvalue()
    for expected in ("checkout-success", "Head of Product", "99.5%", "page", "no data", "search-success"):
        assert expected in text, expected


def test_slo_command_without_a_store_creates_none(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    out = io.StringIO()
    assert slo_command(cfg, JOURNEYS, as_json=True, out=out) == 0
    assert all(e["sli"] is None for e in json.loads(out.getvalue()))
    assert not Path(cfg.storage.path).exists()
