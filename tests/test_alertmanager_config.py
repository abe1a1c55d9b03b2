"""The shipped Alertmanager config (deploy/alertmanager) with a real Alertmanager: grouping, dedup, inhibition."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.slo.alerts import Notification
from exporters.alert_post import post_json, rfc3339
from exporters.notify_alertmanager import am_alert
from tests.fleet_helpers import (
    ALERTMANAGER,
    AMTOOL,
    SHIPPED_AM_CONFIG,
    adapted_am_config,
    alertmanager,
    get_json,
    installed,
    receiver,
    run_tool,
    until,
)

pytestmark = pytest.mark.skipif(not installed(ALERTMANAGER, AMTOOL), reason="Alertmanager is not installed")


def note(slo: str, severity: str, location: str, journey: str = "checkout") -> Notification:
    now = time.time()  # a new incident: Alertmanager flushes a group at once for an alert older than group_wait
    return Notification(kind="firing", key=f"{journey}/{slo}", slo=slo, journey=journey, severity=severity,
                        owner="Head of Product", location=location, since=now, at=now,
                        summary=f"{slo} burns at {location}", description="", objective=0.995,
                        window_s=28 * 86400.0)


def as_prometheus_sends_it(alert: dict[str, Any]) -> dict[str, Any]:
    """The same alert as Prometheus would post it from the rules: the same labels, its own annotations."""
    return {"labels": dict(alert["labels"]), "annotations": {"summary": "from the rules"},
            "startsAt": rfc3339(time.time() - 30), "generatorURL": "http://prometheus.example/graph"}


async def test_the_shipped_config_is_valid() -> None:
    code, out = await run_tool(AMTOOL, "check-config", str(SHIPPED_AM_CONFIG))
    assert code == 0, out


async def test_one_notification_per_slo_a_page_silences_its_ticket(tmp_path: Path) -> None:
    async with receiver() as hooks:
        # group_wait gives Alertmanager's inhibitor time to see the page before the ticket's group is
        # flushed (flushed at once, the ticket could go out before the page silenced it)
        config = adapted_am_config(hooks.url, group_wait="5s", group_interval="1s")
        async with alertmanager(tmp_path, config) as am:
            alerts = [am_alert(note("checkout-success", "page", "eu-west-1")),
                      am_alert(note("checkout-success", "page", "us-east-1")),
                      am_alert(note("checkout-success", "ticket", "eu-west-1")),
                      am_alert(note("search-fast", "ticket", "eu-west-1", "search"))]
            alerts.append(as_prometheus_sends_it(alerts[0]))  # the agent's page at eu-west-1, from the rules too
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                await post_json(session, f"{am}/api/v2/alerts", alerts)

            async def settled() -> list[dict[str, Any]] | None:
                listed = await get_json(f"{am}/api/v2/alerts")
                tickets = [a for a in listed if a["labels"]["slo"] == "checkout-success"
                           and a["labels"]["severity"] == "ticket"]
                done = hooks.of("checkout-success") and hooks.of("search-fast")
                return listed if done and tickets and tickets[0]["status"]["inhibitedBy"] else None

            listed = await until(settled, 30, "both groups notified and the ticket inhibited")
            assert len(listed) == 4  # five posted: the page from the agent and from the rules is one alert

            [pages] = hooks.announcements("checkout-success")  # a retried delivery announces nothing new
            assert [path for path, body in hooks.notifications if body is pages] == ["/pages"]
            assert sorted(a["labels"]["probe_location"] for a in pages["alerts"]) == ["eu-west-1", "us-east-1"]
            assert {a["labels"]["severity"] for a in pages["alerts"]} == {"page"}  # its ticket is silenced
            [tickets] = hooks.announcements("search-fast")
            assert [path for path, body in hooks.notifications if body is tickets] == ["/tickets"]
            assert pages["groupLabels"] == {"alertname": "SLOBurnRate", "slo": "checkout-success",
                                            "journey_name": "checkout"}
