"""A fleet end to end: two agents as two locations, the demo shop, real Prometheus and Alertmanager.

eu-west-1 sends its own alerts to Alertmanager (`alerts.source: agent`), us-east-1 leaves them
to Prometheus (`alerts.source: rules`), and Prometheus evaluates `journeyprobe rules` over both:
so Alertmanager gets eu-west-1's alerts twice, and must take them as one. The shop is started
once per location (each location's own path to it), so a fault can hit one location or both.

The SLO windows of a test this short hold every run, so a recovery shows only once the error
ratio of all the runs so far is back under the threshold: the SLOs take a 23-hour window (page
pairs only, no tickets) and a low objective, so that thresholds are high (19% and 46% of runs)
and a minute of good runs recovers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config.models import AgentConfig
from agent.daemon.lifecycle import Daemon
from agent.demo.shop import start_shop
from agent.journey.loader import load_journeys
from agent.slo.alerts import Notification
from agent.slo.rules.output import rules_yaml
from exporters.alerting import AlertDispatcher
from exporters.notify_alertmanager import alert_labels
from tests.conftest import free_port
from tests.fleet_helpers import (
    ALERTMANAGER,
    AMTOOL,
    PROMETHEUS,
    PROMTOOL,
    Receiver,
    adapted_am_config,
    alertmanager,
    get_json,
    installed,
    prometheus,
    promql,
    receiver,
    until,
)

pytestmark = pytest.mark.skipif(not installed(PROMETHEUS, PROMTOOL, ALERTMANAGER, AMTOOL),
                                reason="prometheus, promtool and alertmanager are needed")

LOCATIONS = ("eu-west-1", "us-east-1")
JOURNEY = """\
name: shop
interval: 1s
timeout: 900ms
steps:
  - name: login
    http:
      method: POST
      url: "{shop}/api/login"
      json: {{user: demo, password: demo-password}}
      timeout: 800ms
    expect: [status == 200]
slos:
  - name: shop-login
    objective: 1%
    window: 23h
    owner: On-call
  - name: shop-login-quorum
    objective: 1%
    window: 23h
    owner: On-call
    locations: {{min_failing: 2}}
"""
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@asynccontextmanager
async def agent(tmp_path: Path, location: str, port: int, shop: str, source: str, am: str) -> AsyncIterator[Daemon]:
    """The daemon of `location`, serving but held before its first run: the test starts its scheduler."""
    folder = tmp_path / location
    (folder / "journeys").mkdir(parents=True)
    (folder / "journeys" / "shop.yaml").write_text(JOURNEY.format(shop=shop))
    config = AgentConfig.model_validate({
        "location": location, "journeys": [str(folder / "journeys" / "*.yaml")],
        "storage": {"path": str(folder / "store.db"), "flush_interval": "100ms"},
        "server": {"listen": f"127.0.0.1:{port}"}, "grace": "2s", "artifacts": str(folder / "artifacts"),
        "alerts": {"evaluate_every": "1s", "source": source},
        "alerting": [{"alertmanager": {"url": am}}]})
    daemon = Daemon(config)
    await daemon.start()
    daemon.scheduler.stop_scheduling()  # held before its first run (no await since the scheduler started)
    try:
        yield daemon
    finally:
        await daemon.stop()


async def set_fault(shop: str, mode: str) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.post(f"{shop}/_faults", json={"area": "login", "mode": mode}) as response:
        assert response.status == 200


async def agent_slo(daemon: Daemon, name: str = "shop-login") -> dict[str, Any]:
    entries = await get_json(f"{daemon.base_url}/api/v1/slos")
    return next(e for e in entries if e["name"] == name)


async def bad_runs(daemon: Daemon) -> int:
    window = (await agent_slo(daemon))["windows"]["5m"]
    return int(window["events"] - window["good"])


def by_location(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["probe_location"]: float(r["value"][1]) for r in result}


async def rule_burn_rates(prom: str, objective: float) -> dict[str, dict[str, float]]:
    """Window -> location -> burn rate, from the rules' per-location error ratios."""
    out: dict[str, dict[str, float]] = {}
    for window in WINDOWS:
        ratios = by_location(await promql(prom, f'journey_location:slo_errors_ratio:rate{window}{{slo="shop-login"}}'))
        out[window] = {loc: ratio / (1 - objective) for loc, ratio in ratios.items()}
    return out


async def burn_rates_agree(prom: str, daemons: dict[str, Daemon]) -> str | None:
    """None when, per window and location, the rules' burn rate is within 10% of the agent's (every
    window holding at least 20 runs), else what differs."""
    rules = await rule_burn_rates(prom, 0.01)
    for location, daemon in daemons.items():
        entry = await agent_slo(daemon)
        for window in WINDOWS:
            assert entry["windows"][window]["events"] >= 20
            ours, theirs = entry["burn_rates"][window], rules[window].get(location)
            if theirs is None or abs(theirs - ours) > 0.1 * ours:
                return f"{location} {window}: agent {ours}, rules {theirs}"
    return None


async def firing_in_prometheus(prom: str) -> list[dict[str, str]]:
    alerts = (await get_json(f"{prom}/api/v1/alerts"))["data"]["alerts"]
    return [a["labels"] for a in alerts if a["state"] == "firing"]


async def test_a_fleet_agrees_and_alerts_once(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        hooks: Receiver = await stack.enter_async_context(receiver())
        am = await stack.enter_async_context(alertmanager(
            tmp_path, adapted_am_config(hooks.url, group_wait="10s", group_interval="2s")))
        shops: dict[str, str] = {}
        for location in LOCATIONS:
            runner, shops[location] = await start_shop()
            stack.push_async_callback(runner.cleanup)
        (tmp_path / "journeys").mkdir()
        (tmp_path / "journeys" / "shop.yaml").write_text(JOURNEY.format(shop="http://127.0.0.1:1"))
        rules = rules_yaml(load_journeys([str(tmp_path / "journeys")]))
        # Prometheus first, as in a fleet: it scrapes each agent's counters from their first zeros
        ports = {location: free_port() for location in LOCATIONS}
        prom = await stack.enter_async_context(prometheus(
            tmp_path, [f"127.0.0.1:{port}" for port in ports.values()], rules, am))
        daemons = {location: await stack.enter_async_context(agent(
            tmp_path, location, ports[location], shops[location], "agent" if location == "eu-west-1" else "rules",
            am)) for location in LOCATIONS}
        eu, us = daemons["eu-west-1"], daemons["us-east-1"]

        # The counters exist at 0 before anything runs, and Prometheus holds those zeros before the agents
        # start (on a loaded machine its first scrape can come runs late, and a series' first sample is
        # not an increase); then a warm-up of 20 good runs everywhere.
        async def zeros_scraped() -> bool:
            counters = await promql(prom, "slo_events_total")
            return len(counters) == 4 and all(float(c["value"][1]) == 0 for c in counters)  # 2 SLOs x 2 locations
        await until(zeros_scraped, 60, "Prometheus scraping the zero SLO counters of both agents")
        for daemon in daemons.values():
            await daemon.scheduler.start()

        async def warm() -> bool:
            events = by_location(await promql(prom, 'journey_location:slo_events:increase5m{slo="shop-login"}'))
            return len(events) == 2 and min(events.values()) >= 20
        await until(warm, 90, "20 runs at each location")

        # 1. The first failure counts in Prometheus: one blip at eu-west-1 (and it pages no one).
        await set_fault(shops["eu-west-1"], "error")
        await until(lambda: bad_runs(eu), 20, "a failed run at eu-west-1")
        await set_fault(shops["eu-west-1"], "none")

        async def counted() -> bool:  # the agent's count is read again each time: a run in flight may still fail
            ratio = by_location(await promql(prom, 'journey_location:slo_errors_ratio:rate5m{slo="shop-login"}'))
            bad = await promql(prom, 'sum(slo_events_total{slo_name="shop-login",probe_location="eu-west-1"}) - '
                                     'sum(slo_good_events_total{slo_name="shop-login",probe_location="eu-west-1"})')
            return ratio.get("eu-west-1", 0.0) > 0 and bad and float(bad[0]["value"][1]) == await bad_runs(eu)
        await until(counted, 20, "the rules counting the blip's failed run(s) as the agent does")

        # 2. An incident at both locations: one notification per SLO, the quorum SLO included.
        for shop in shops.values():
            await set_fault(shop, "error")

        async def both_announced() -> bool:
            return bool(hooks.announcements("shop-login") and hooks.announcements("shop-login-quorum"))
        await until(both_announced, 60, "both SLOs notified")

        # Prometheus and Alertmanager may be a scrape and an evaluation behind the notification (on a
        # loaded machine, several seconds): wait for what they hold while the fault is still on.
        async def rule_alerts() -> tuple[dict[str, str], dict[str, str]] | None:
            labels = await firing_in_prometheus(prom)
            eu_alerts = [a for a in labels if a["slo"] == "shop-login" and a.get("probe_location") == "eu-west-1"]
            quorum_alerts = [a for a in labels if a["slo"] == "shop-login-quorum"]
            return (eu_alerts[0], quorum_alerts[0]) if eu_alerts and quorum_alerts else None
        eu_rule_alert, quorum_alert = await until(rule_alerts, 30, "the rules firing for eu-west-1 and the quorum")

        async def held_by_alertmanager() -> list[tuple[str, str]]:
            listed = await get_json(f"{am}/api/v2/alerts")
            return sorted((a["labels"]["slo"], a["labels"].get("probe_location", "")) for a in listed
                          if a["status"]["state"] == "active")
        expected = [("shop-login", "eu-west-1"), ("shop-login", "us-east-1"), ("shop-login-quorum", "")]

        async def all_held() -> bool:
            return await held_by_alertmanager() == expected
        await until(all_held, 30, f"Alertmanager holding {expected}")
        for shop in shops.values():
            await set_fault(shop, "none")

        # the agent's alert and the rules' alert for eu-west-1 carry the same labels: Alertmanager holds one
        note = Notification(kind="firing", key="shop/shop-login", slo="shop-login", journey="shop", severity="page",
                            owner="On-call", location="eu-west-1", since=0, at=0, summary="", description="",
                            objective=0.01, window_s=23 * 3600)
        assert eu_rule_alert == alert_labels(note)
        assert "probe_location" not in quorum_alert  # a fleet alert: no location of its own
        dispatchers = {loc: d.parts.alerting for loc, d in daemons.items() if d.parts is not None}
        assert isinstance(dispatchers["eu-west-1"], AlertDispatcher)
        assert dispatchers["eu-west-1"].workers[0].sent >= 1  # eu-west-1 did send its own alert
        assert dispatchers["us-east-1"].workers[0].sent == 0  # us-east-1 left it to Prometheus

        # 3. The same runs, the same burn rates: the rules and the agents agree within 10% on every window.
        # The agents pause, so that Prometheus (a scrape and a rule evaluation behind, more on a loaded
        # machine) holds the very runs the agents count; while runs go on, a young window's ratio moves
        # by more than 1% per run.
        for daemon in daemons.values():
            await daemon.scheduler.drain(grace=5)
        differences: list[str | None] = []

        async def agreed() -> bool:
            differences.append(await burn_rates_agree(prom, daemons))
            return differences[-1] is None
        try:
            await until(agreed, 30, "the rules' burn rates within 10% of the agents'")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last differences: {differences[-3:]}") from None
        for daemon in daemons.values():
            await daemon.scheduler.start()

        # 4. Resolution reaches the receiver once the fault is off.
        async def resolved() -> bool:
            return bool(hooks.of("shop-login", "resolved") and hooks.of("shop-login-quorum", "resolved"))
        await until(resolved, 120, "both SLOs resolved at the receiver")
        assert [len(hooks.announcements(s)) for s in ("shop-login", "shop-login-quorum")] == [1, 1]
        [first] = hooks.announcements("shop-login")
        assert {a["labels"]["probe_location"] for a in first["alerts"]} == set(LOCATIONS)  # one notification

        # 5. A quorum of 2 stays quiet while only eu-west-1 fails; shop-login alerts for eu-west-1 alone.
        await set_fault(shops["eu-west-1"], "error")

        async def eu_announced() -> bool:
            return len(hooks.announcements("shop-login")) == 2
        await until(eu_announced, 60, "the second incident (eu-west-1 alone) notified")
        [_, second] = hooks.announcements("shop-login")
        assert [a["labels"]["probe_location"] for a in second["alerts"] if a["status"] == "firing"] == ["eu-west-1"]

        # eu-west-1 (its own alert source) may announce before Prometheus has scraped and evaluated its runs
        async def burning() -> set[str]:
            return set(by_location(await promql(
                prom, 'journey_location:slo_errors_ratio:rate30m{slo="shop-login-quorum"} > (0.191667 * 0.99)')))
        assert await until(burning, 30, "the rules seeing eu-west-1 burn") == {"eu-west-1"}  # quorum of 2 not met
        assert not [a for a in await firing_in_prometheus(prom) if a["slo"] == "shop-login-quorum"]
        await set_fault(shops["eu-west-1"], "none")
        assert len(hooks.announcements("shop-login-quorum")) == 1  # still only the first incident's
        assert (await agent_slo(us, "shop-login-quorum"))["judgement"].startswith(
            "alerts only when at least 2 locations fail together")
