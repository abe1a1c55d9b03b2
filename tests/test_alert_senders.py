"""Webhook and Slack senders against local receivers: payloads, retries with backoff, hangs, bounds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from agent.config.models import AgentConfig
from agent.slo.alerts import Notification
from exporters.alerting import AlertDispatcher, RetryPolicy, SinkWorker
from exporters.notify_alertmanager import AlertmanagerSender
from exporters.notify_webhook import WebhookSender

FAST = RetryPolicy(attempts=5, base_delay=0.05, max_delay=1.0, max_total=5.0, timeout=2.0)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def note(kind: str = "firing", **extra: Any) -> Notification:
    fields: dict[str, Any] = dict(
        kind=kind, key="checkout/checkout-success", slo="checkout-success", journey="checkout",
        severity="page",
        owner="Head of Product", location="tokyo-1", since=1_800_000_000.0, at=1_800_000_060.0,
        summary="Checkout success is burning its error budget 14.9x faster than sustainable: 2.2% of the "
                "28-day budget gone in the last hour",
        description="SLO checkout-success of journey checkout", objective=0.995, window_s=28 * 86400.0,
        burn_rate=14.9, long_window="1h", short_window="5m", threshold=13.44, budget_remaining=0.63,
        status_page="http://status.example:9464")
    fields.update(extra)
    return Notification(**fields)


@asynccontextmanager
async def receiver(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


class Watched:
    """A sender that notes whether one of its sends is under way."""

    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender
        self.name = sender.name
        self.sending = False

    def wants(self, note: Notification) -> bool:
        return self.sender.wants(note)

    async def send(self, session: Any, note: Notification) -> None:
        self.sending = True
        try:
            await self.sender.send(session, note)
        finally:
            self.sending = False


async def test_json_webhook_gets_firing_and_resolved_but_not_refreshes() -> None:
    bodies: list[dict[str, Any]] = []

    async def ok(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.Response(status=204)

    async with receiver(ok) as url:
        worker = SinkWorker(WebhookSender(url, headers={"X-Token": "t"}), retry=FAST)
        worker.start()
        for kind in ("firing", "refresh", "renotify", "resolved"):
            worker.submit(note(kind))
        assert await worker.drain(5)
        await worker.close()
    assert [b["kind"] for b in bodies] == ["firing", "renotify", "resolved"]
    first = bodies[0]
    assert first["status"] == "firing" and first["severity"] == "page" and first["slo"] == "checkout-success"
    assert first["summary"].startswith("Checkout success is burning") and first["owner"] == "Head of Product"
    assert first["started_at"] == "2027-01-15T08:00:00.000Z" and first["ended_at"] is None
    assert first["window"] == "28d" and first["status_page"] == "http://status.example:9464"
    assert bodies[2]["status"] == "resolved" and bodies[2]["ended_at"] == "2027-01-15T08:01:00.000Z"


async def test_slack_webhook_gets_text_and_blocks() -> None:
    bodies: list[dict[str, Any]] = []

    async def ok(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.Response(text="ok")

    async with receiver(ok) as url:
        worker = SinkWorker(WebhookSender(url, fmt="slack"), retry=FAST)
        worker.start()
        worker.submit(note())
        worker.submit(note("resolved", summary="Checkout success is no longer burning its error budget fast"))
        assert await worker.drain(5)
        await worker.close()
    firing, resolved = bodies
    assert firing["text"].startswith(":rotating_light: [PAGE] Checkout success is burning")
    assert "<http://status.example:9464|status page>" in firing["text"]
    assert firing["blocks"][0]["text"]["text"] == firing["text"]
    assert any("Head of Product" in e["text"] for e in firing["blocks"][1]["elements"])
    assert resolved["text"].startswith(":white_check_mark: [RESOLVED]")


async def test_a_receiver_failing_twice_gets_the_alert_on_the_third_try_with_backoff() -> None:
    attempts: list[float] = []

    async def flaky(request: web.Request) -> web.Response:
        attempts.append(time.monotonic())
        await request.read()
        return web.Response(status=503 if len(attempts) <= 2 else 200)

    async with receiver(flaky) as url:
        worker = SinkWorker(WebhookSender(url), retry=FAST)
        worker.start()
        worker.submit(note())
        assert await worker.drain(5)
        await worker.close()
    assert (worker.sent, worker.failed, worker.retries) == (1, 0, 2)
    first_gap, second_gap = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_gap >= 0.025 and second_gap >= 0.05  # 0.05s then 0.1s, each jittered down to half at most


async def test_a_client_error_is_not_retried() -> None:
    calls = 0

    async def bad(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=400, text="unknown field")

    async with receiver(bad) as url:
        worker = SinkWorker(WebhookSender(url), retry=FAST)
        worker.start()
        worker.submit(note())
        assert await worker.drain(5)
        await worker.close()
    assert (calls, worker.sent, worker.failed) == (1, 0, 1)


async def test_a_hanging_receiver_is_bounded_and_never_blocks() -> None:
    hang = asyncio.Event()
    entered = asyncio.Event()
    calls = 0

    async def hanging(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        entered.set()
        await hang.wait()
        return web.Response()

    policy = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.1, max_total=3.0, timeout=0.3)
    async with receiver(hanging) as url:
        sender = Watched(WebhookSender(url))
        worker = SinkWorker(sender, retry=policy)
        worker.start()
        for _ in range(3):
            worker.submit(note())
        assert (len(worker.queue), calls) == (3, 0)  # submitting returned before any network I/O

        # The event loop stays free while a send hangs: this coroutine, on the same loop as the
        # receiver, runs once the receiver holds the request, and must find that send still going.
        async def bystander() -> bool:
            await entered.wait()
            return sender.sending

        drained = asyncio.create_task(worker.drain(30))
        bystanding = asyncio.create_task(bystander())
        done, _ = await asyncio.wait({drained, bystanding}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert done == {bystanding} and bystanding.result(), "the loop was not free while a send hung"
        assert await drained, "each alert gives up after 3 tries of 0.3s"
        assert (worker.failed, calls) == (3, 9)

        entered.clear()
        worker.submit(note())
        await asyncio.wait_for(entered.wait(), 30)  # a send is in flight, hanging
        await asyncio.wait_for(worker.close(grace=0.2), 30)
        # close did not wait for the hanging send's tries to run out: no retry, neither sent nor failed
        assert (calls, worker.sent, worker.failed, worker.retries) == (10, 0, 3, 6)
        hang.set()


async def test_the_queue_is_bounded_and_drops_the_oldest() -> None:
    worker = SinkWorker(WebhookSender("http://127.0.0.1:1/never"), max_queue=2, retry=FAST)
    for i in range(5):
        worker.submit(note(at=float(i)))
    assert worker.dropped == 3 and [n.at for n in worker.queue] == [3.0, 4.0]
    await worker.close()


async def test_dispatcher_builds_a_worker_per_sink() -> None:
    config = AgentConfig.model_validate({"alerting": [
        {"webhook": {"url": "http://a/x"}}, {"slack": {"url": "http://b/y"}},
        {"webhook": {"url": "http://c/z", "format": "slack"}}, {"alertmanager": {"url": "http://am:9093/"}}]})
    dispatcher = AlertDispatcher.from_config(config)
    senders = [w.sender for w in dispatcher.workers]
    assert [type(s).__name__ for s in senders] == ["WebhookSender"] * 3 + ["AlertmanagerSender"]
    assert [getattr(s, "fmt", None) for s in senders] == ["json", "slack", "slack", None]
    am = senders[3]
    assert isinstance(am, AlertmanagerSender) and am.url == "http://am:9093/api/v2/alerts"
    dispatcher.submit(note("refresh"))
    assert [len(w.queue) for w in dispatcher.workers] == [0, 0, 0, 1]
    await dispatcher.close(grace=0.1)
    assert set(dispatcher.stats()) == {"webhook-0", "slack-1", "webhook-2", "alertmanager-3"}


@pytest.mark.parametrize(("kind", "ends_in"), [("firing", 300.0), ("resolved", 0.0)],
                         ids=["firing", "resolved"])
def test_alertmanager_payload(kind: str, ends_in: float) -> None:
    from exporters.alert_post import rfc3339
    from exporters.notify_alertmanager import am_alert

    alert = am_alert(note(kind), valid_for=300.0)
    assert alert["labels"] == {"alertname": "SLOBurnRate", "slo": "checkout-success",
                               "journey_name": "checkout",
                               "severity": "page", "owner": "Head of Product",
                               "probe_location": "tokyo-1"}
    assert alert["annotations"]["budget_left"] == "63%"
    assert alert["annotations"]["status_page"] == alert["generatorURL"] == "http://status.example:9464"
    assert alert["startsAt"] == rfc3339(1_800_000_000.0)
    assert alert["endsAt"] == rfc3339(1_800_000_060.0 + ends_in)
