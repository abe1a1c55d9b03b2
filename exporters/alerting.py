"""Alert delivery: one background worker per sink, a bounded queue each, retries with backoff.

`AlertDispatcher.submit` never waits: it appends to every interested sink's queue (the
oldest notification is dropped, and counted, when a queue is full). Each worker sends in
order with its own aiohttp session; a failed send is retried with exponential backoff and
jitter, within a bounded number of attempts and a bounded total time, then given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiohttp

from agent.slo.alerts import Notification
from exporters.alert_post import SendError
from exporters.notify_alertmanager import AlertmanagerSender
from exporters.notify_webhook import WebhookSender

if TYPE_CHECKING:
    from agent.config.models import AgentConfig

log = logging.getLogger("journeyprobe.alerting")


class Sender(Protocol):
    """One destination of alerts: a webhook, Slack, Alertmanager."""

    name: str

    def wants(self, note: Notification) -> bool: ...

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    base_delay: float = 0.5  # before the second try; doubles each time
    max_delay: float = 30.0
    max_total: float = 120.0  # from the first try to giving up
    timeout: float = 10.0  # one try, connect to last byte


class SinkWorker:
    """Delivers the notifications one sender wants, in order, off the event loop's hot path."""

    def __init__(self, sender: Sender, *, max_queue: int = 1000, retry: RetryPolicy | None = None) -> None:
        self.sender = sender
        self.max_queue = max(1, max_queue)
        self.retry = retry or RetryPolicy()
        self.queue: deque[Notification] = deque()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.retries = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def submit(self, note: Notification) -> bool:
        """Queue a notification if the sender wants it; never waits."""
        if not self.sender.wants(note):
            return False
        if len(self.queue) >= self.max_queue:
            self.queue.popleft()
            self.dropped += 1
            log.warning("alert sink %s is behind: dropped a notification (%d so far)", self.sender.name,
                        self.dropped)
        self.queue.append(note)
        self._idle.clear()
        self._wake.set()
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"journeyprobe-alert-{self.sender.name}")

    async def drain(self, within: float) -> bool:
        """Wait until the queue is empty and nothing is being sent; False if that takes longer."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False

    async def close(self, grace: float = 5.0) -> None:
        """Send what is queued within `grace` seconds, then stop."""
        if self._task is not None:
            if not await self.drain(grace) and self.queue:
                log.warning("alert sink %s: %d notifications not sent at shutdown", self.sender.name,
                            len(self.queue))
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.retry.timeout, connect=min(5.0, self.retry.timeout))
        self._session = aiohttp.ClientSession(timeout=timeout)
        while True:
            if not self.queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            note = self.queue.popleft()
            await self._deliver(note)

    async def _deliver(self, note: Notification) -> None:
        assert self._session is not None
        policy = self.retry
        deadline = time.monotonic() + policy.max_total
        for attempt in range(1, policy.attempts + 1):
            try:
                async with asyncio.timeout(policy.timeout):
                    await self.sender.send(self._session, note)
                self.sent += 1
                return
            except (SendError, TimeoutError) as exc:
                error = exc if isinstance(exc, SendError) \
                    else SendError(f"no answer within {policy.timeout:g}s")
            except Exception as exc:
                log.exception("alert sink %s failed unexpectedly", self.sender.name)
                error = SendError(f"{type(exc).__name__}: {exc}", retryable=False)
            delay = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if error.retry_after is not None:
                delay = min(policy.max_delay, max(delay, error.retry_after))
            if not error.retryable or attempt == policy.attempts or time.monotonic() + delay > deadline:
                self.failed += 1
                log.error("alert sink %s gave up on %s %s alert of %s after %d attempts: %s",
                          self.sender.name, note.kind, note.severity, note.key, attempt, error)
                return
            self.retries += 1
            log.warning("alert sink %s: attempt %d failed (%s); retrying in %.1fs", self.sender.name, attempt,
                        error, delay)
            await asyncio.sleep(delay)


class AlertDispatcher:
    """Fans notifications out to every sink's worker; `submit` is the SLO service's `notify`."""

    def __init__(self, workers: Sequence[SinkWorker]) -> None:
        self.workers = list(workers)

    @classmethod
    def from_config(cls, config: AgentConfig, *, retry: RetryPolicy | None = None,
                    max_queue: int = 1000) -> AlertDispatcher:
        """A worker per `alerting:` entry of agent.yaml."""
        workers = []
        for index, sink in enumerate(config.alerting):
            sender: Sender
            if sink.webhook is not None:
                sender = WebhookSender(sink.webhook.url, fmt=sink.webhook.format,
                                       headers=sink.webhook.headers, name=f"webhook-{index}")
            elif sink.slack is not None:
                sender = WebhookSender(sink.slack.url, fmt="slack", headers=sink.slack.headers,
                                       name=f"slack-{index}")
            else:
                assert sink.alertmanager is not None
                sender = AlertmanagerSender(sink.alertmanager.url, name=f"alertmanager-{index}",
                                            resend_every=config.alerts.evaluate_every)
            workers.append(SinkWorker(sender, max_queue=max_queue, retry=retry))
        return cls(workers)

    def submit(self, note: Notification) -> None:
        for worker in self.workers:
            worker.submit(note)

    __call__ = submit

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    async def close(self, grace: float = 5.0) -> None:
        """Give the workers `grace` seconds to send what is queued, then stop them."""
        await asyncio.gather(*(w.close(grace) for w in self.workers))

    def stats(self) -> dict[str, dict[str, int]]:
        return {w.sender.name: {"queued": len(w.queue), "sent": w.sent, "failed": w.failed,
                                "dropped": w.dropped, "retries": w.retries} for w in self.workers}
