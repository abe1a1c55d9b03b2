"""The daemon's lifecycle: start, run journeys on schedule, reload, drain and stop."""

from __future__ import annotations

import asyncio
import gc
import glob
import logging
import os
import signal
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.config.models import AgentConfig
from agent.config.shard import owns, parse_shard
from agent.core.clock import Clock, system_clock
from agent.daemon.compose import Parts, build_parts, close_all
from agent.daemon.logs import log_run
from agent.daemon.process_tuning import collect_less_often
from agent.daemon.scheduler import Scheduler
from agent.daemon.workers import WorkerPool, worker_count
from agent.journey.loader import LoadError, load_journeys
from agent.journey.model import Journey
from agent.probe.artifacts import Retention
from agent.probe.context import DEFAULT_USER_AGENT, ProbeResources, ProbeSettings
from agent.probe.result import RunResult
from agent.probe.runner import Runner
from agent.slo.indicator import verdicts
from agent.web.server import start_server
from agent.web.state import AgentState
from exporters.self_metrics import Health, Lateness

log = logging.getLogger("journeyprobe.daemon")


class Daemon:
    """Runs journeys on schedule and serves what they found; its parts come from `compose.build_parts`."""

    def __init__(self, config: AgentConfig, journey_paths: Sequence[str] | None = None, *,
                 clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock
        self.journey_paths = list(journey_paths or config.journeys)
        self.state = AgentState(config=config, clock=clock)
        settings = ProbeSettings(location=config.location,
                                 user_agent=config.probe.user_agent or DEFAULT_USER_AGENT,
                                 tracestate=config.probe.tracestate, artifacts_dir=Path(config.artifacts))
        retention = Retention(max_age_s=config.artifacts_retention, max_bytes=config.artifacts_max_bytes)
        self.runner = Runner(settings)
        self.runner.resources = ProbeResources(browser=config.browser, artifacts_retention=retention)
        self.scheduler = Scheduler.for_config(self._execute, config, clock)
        self.parts: Parts | None = None
        self.workers: WorkerPool | None = None  # worker processes run the journeys (`workers:` > 1)
        self._worker_count = worker_count(config.workers)
        self.base_url = ""
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._mtimes: dict[str, float] = {}
        self._server: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        journeys = await asyncio.to_thread(load_journeys, self.journey_paths)  # LoadError: bad at start
        _share_the_gil()
        collect_less_often()
        self.parts = parts = await build_parts(self.config, self.runner, self._journeys_now, clock=self.clock)
        self.state.store = parts.store
        self.state.slo_status = parts.slo.status
        if parts.telemetry.prometheus is not None:
            self.state.metrics = parts.telemetry.metrics
        parts.telemetry.watch(self.health, sinks=tuple(parts.dropped()))
        self._apply(journeys)
        self._mtimes = await asyncio.to_thread(self._scan)
        self._server, self.base_url = await start_server(self.state)
        await self.scheduler.start()
        if self._worker_count > 1:
            self.workers = WorkerPool(self, self._worker_count)
            await self.workers.start()
        self._tasks = [asyncio.create_task(self._watch(), name="journeyprobe-watch"),
                       asyncio.create_task(self._reloader(), name="journeyprobe-reload")]
        _freeze_heap()
        log.info("journeyprobe serving on %s with %d journeys (location %s)", self.base_url,
                 len(self.state.journeys), self.config.location)

    def _journeys_now(self) -> list[Journey] | None:
        return list(self.state.journeys.values()) if self.state.journeys_loaded else None

    def health(self) -> Health:
        """The agent's own health now, for the self-metrics (read from exporter threads: reads only)."""
        store = self.state.store
        schedule = self.workers or self.scheduler
        return Health(runs_in_flight=schedule.in_flight, runs_skipped=schedule.skipped_total,
                      lateness=Lateness.of(schedule),
                      store_flush_lag_s=store.last_flush_lag_s if store else None,
                      store_pending=store.pending if store else None,
                      store_dropped=store.dropped if store else None,
                      last_reload_ok=self.state.last_reload_ok, internal_errors=self.runner.internal_errors,
                      sinks_dropped=self.parts.dropped() if self.parts else {})

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """Stop scheduling, let runs in flight finish within the grace period, flush the store."""
        self.state.stopping = True
        self.scheduler.stop_scheduling()
        cancelled = await self.scheduler.drain(self.config.grace)
        if cancelled:
            log.warning("cancelled %d runs still going after the %.0fs grace period", cancelled, self.config.grace)
        if self.workers is not None:
            await self.workers.stop(self.config.grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.cleanup()
        if self.parts is not None:
            await close_all(self.parts.closers)
        log.info("journeyprobe stopped")

    # -- runs ----------------------------------------------------------------------------------
    async def _execute(self, journey: Journey, scheduled_at: float) -> None:
        result = await self.runner.run(journey)
        await self.publish(result, journey)

    async def publish(self, result: RunResult, journey: Journey) -> None:
        """Hand a finished run to the store, the log and every sink; sinks never block."""
        if self.parts is None:
            return
        await self.parts.store.add(result, verdicts(journey, result))
        log_run(result)
        for sink in self.parts.sinks:
            try:
                sink(result, journey)
            except Exception:
                log.exception("a result sink failed")

    # -- reload --------------------------------------------------------------------------------
    def _apply(self, journeys: list[Journey]) -> dict[str, list[str]]:
        if self.config.shard:
            index, count = parse_shard(self.config.shard)
            journeys = [j for j in journeys if owns(j.name, index, count)]
        changes = self.scheduler.update(journeys if self._worker_count <= 1 else [])  # else the workers do
        self.state.journeys = {j.name: j for j in journeys}
        self.state.journeys_loaded = True
        self.state.reload_errors = []
        self.state.last_reload_ok = self.clock()
        return changes

    async def reload(self) -> bool:
        """Load the journey files again; a broken set is rejected whole and the last good set runs on."""
        self.state.last_reload_attempt = self.clock()
        try:
            journeys = await asyncio.to_thread(load_journeys, self.journey_paths)
        except LoadError as exc:
            self.state.reload_errors = [str(p) for p in exc.problems]
            log.error("reload rejected, the last good set of %d journeys keeps running:\n%s",
                      len(self.state.journeys), exc)
            return False
        changes = self._apply(journeys)
        if self.workers is not None:
            self.workers.reload()
        _freeze_heap()
        log.info("reloaded journeys: %s", ", ".join(f"{k} {v}" for k, v in changes.items() if v) or "no changes")
        return True

    async def _reloader(self) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            await self.reload()

    def _scan(self) -> dict[str, float]:
        """Names and mtimes of the journey files: one stat each (cheap at thousands of files)."""
        out: dict[str, float] = {}
        for text in self.journey_paths:
            if os.path.isdir(text):
                with os.scandir(text) as entries:
                    names = [e.path for e in entries
                             if e.name.endswith((".yaml", ".yml")) and not e.name.startswith(".")]
            elif any(char in text for char in "*?["):
                names = glob.glob(text, recursive=True)
            else:
                names = [text]
            for name in names:
                try:
                    info = os.stat(name)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    out[name] = info.st_mtime
        return out

    async def _watch(self) -> None:
        """Poll the journey files; a change, an added or a removed file triggers a reload."""
        while True:
            await asyncio.sleep(self.config.reload_poll)
            mtimes = await asyncio.to_thread(self._scan)
            if mtimes != self._mtimes:
                self._mtimes = mtimes
                self.request_reload()


GIL_SWITCH_INTERVAL_S = 0.0005


def _share_the_gil() -> None:
    """Hand the GIL over sooner (default 5 ms). Renders of /metrics and the store's writer run in
    threads; the event loop gives the GIL up at every poll and would otherwise wait a whole
    interval each time to get it back (the convoy effect), delaying run starts by that much."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def _freeze_heap() -> None:
    """Move what lives as long as the agent (modules, models, telemetry) out of later collections.

    Full collections over that heap stopped the event loop for up to 150 ms at 1,000 journeys
    (docs/benchmarks.md, F3)."""
    gc.collect()
    gc.freeze()
