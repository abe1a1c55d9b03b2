"""The SLO service the daemon runs: engine + alert book + a periodic evaluation task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from agent.config.models import AgentConfig
from agent.core.clock import Clock, system_clock
from agent.journey.model import Journey
from agent.probe.result import RunResult
from agent.slo.alerts import AlertBook, AlertStore, Notification
from agent.slo.engine import CountsStore, SloEngine, SloReport
from agent.slo.status import GaugePoint, gauge_points, slo_list

log = logging.getLogger("journeyprobe.slo")


class SloStore(CountsStore, AlertStore, Protocol):
    """What the service needs of `agent.store.sqlite.Store`."""


class SloService:
    """Evaluates every SLO each `alerts.evaluate_every` and alerts on fast burns.

    `journeys()` returns the journeys this agent runs now, or None while they are not
    loaded yet; a reload is picked up at the next evaluation.
    """

    def __init__(self, config: AgentConfig, store: SloStore, journeys: Callable[[], Iterable[Journey] | None],
                 notify: Callable[[Notification], None] | None = None, *,
                 clock: Clock = system_clock) -> None:
        self.every = config.alerts.evaluate_every
        self.every_window_gauges = config.telemetry.slo_windows == "all"
        self.clock = clock
        self.engine = SloEngine(store, clock=clock)
        self.book = AlertBook(store, notify, location=config.location, public_url=config.server.public_url,
                              default_renotify=config.alerts.renotify)
        self._journeys = journeys
        self._task: asyncio.Task[None] | None = None
        self._points: list[GaugePoint] = []
        self._lock = asyncio.Lock()
        self.reports: list[SloReport] = []
        self.evaluations = 0
        self.errors = 0
        self.last_duration_s = 0.0

    async def start(self) -> None:
        """Read the alert state left by the last run and start evaluating."""
        await self.book.load()
        self._reconcile()
        self._task = asyncio.create_task(self._loop(), name="journeyprobe-slo")

    def observe(self, result: RunResult, journey: Journey) -> None:
        """Count a finished run now (a result sink: cheap, never blocks)."""
        self.engine.observe(result, journey)

    async def evaluate(self, now: float | None = None) -> list[Notification]:
        """One evaluation: sync counts from the store, compute, advance the alerts."""
        async with self._lock:
            started = time.perf_counter()
            now = self.clock() if now is None else now
            present = self._reconcile()
            await self.engine.sync(now, load_budget_s=max(1.0, self.every / 2))
            reports = await self.engine.evaluate_in_slices(now)
            notes = await self.book.evaluate(reports, now)
            if present is not None and self.engine.pending_loads == 0:
                notes += await self.book.retire(present, now)
            self.reports = reports
            self._points = gauge_points(reports, every_window=self.every_window_gauges)
            self.evaluations += 1
            self.last_duration_s = time.perf_counter() - started
            return notes

    async def status(self) -> list[dict[str, Any]]:
        """The `/api/v1/slos` list, computed now from the in-memory counts."""
        return slo_list(await self.engine.evaluate_in_slices(), self.book.active, self.book.location)

    def gauges(self) -> list[GaugePoint]:
        """The SLO gauges as of the last evaluation; safe to call from any thread."""
        return self._points

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _reconcile(self) -> set[str] | None:
        journeys = self._journeys()
        if journeys is None:
            return None
        self.engine.set_journeys(journeys)
        return set(self.engine.trackers)

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.evaluate()
            except Exception:
                self.errors += 1
                log.exception("SLO evaluation failed")
            await asyncio.sleep(max(0.05, self.every - (time.monotonic() - started)))
