"""The composition root: every part of the daemon built from the config, in one place and one order.

The daemon's own loop (scheduling, reloads, the server) lives in `lifecycle`; what it hands
each finished run to, and what it closes at stop, is decided here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from agent.config.models import AgentConfig
from agent.core.clock import Clock, system_clock
from agent.daemon.slo_service import SloService
from agent.journey.model import Journey
from agent.probe.result import RunResult
from agent.probe.runner import Runner
from agent.store.sqlite import Store
from exporters.alerting import AlertDispatcher
from exporters.jsonl import JsonlSink
from exporters.telemetry import Telemetry

log = logging.getLogger("journeyprobe.compose")

ResultSink = Callable[[RunResult, Journey], None]
Closer = Callable[[], Awaitable[object]]


@dataclass
class Parts:
    """What the daemon runs besides its own loop."""

    store: Store
    telemetry: Telemetry
    alerting: AlertDispatcher
    slo: SloService
    jsonl: JsonlSink | None = None
    sinks: list[ResultSink] = field(default_factory=list)
    """Every finished run goes to each, in order, after the store; none may block."""
    closers: list[tuple[str, Closer]] = field(default_factory=list)
    """Run in this order at stop: the SLO service first, the store last."""

    def dropped(self) -> dict[str, int]:
        """Results the sinks other than the store dropped because they were behind, by sink."""
        return {"jsonl": self.jsonl.dropped} if self.jsonl is not None else {}


async def build_parts(config: AgentConfig, runner: Runner, journeys: Callable[[], Iterable[Journey] | None], *,
                      clock: Clock = system_clock) -> Parts:
    """Open the store, then telemetry, sinks, alert senders and the SLO service.

    `journeys()` gives the journeys the agent runs now (None before the first load); the SLO
    service reads it at each evaluation, so reloads need no hook. If a part fails to start,
    the parts already started are closed before the error goes up.
    """
    storage = config.storage
    store = await Store.open(storage.path, retention_s=storage.retention, run_retention_s=storage.run_retention,
                             batch_size=storage.batch_size, flush_interval=storage.flush_interval, clock=clock)
    started: list[tuple[str, Closer]] = [("store", store.close)]
    try:
        telemetry = Telemetry.from_config(config)
        runner.observer_factory = telemetry.observer
        started.insert(0, ("telemetry", telemetry.aclose))
        jsonl = _jsonl_sink(config)
        if jsonl is not None:
            started.insert(0, ("jsonl", partial(asyncio.to_thread, jsonl.close)))
        alerting = AlertDispatcher.from_config(config)
        alerting.start()
        started.insert(0, ("alerting", alerting.close))
        by_agent = config.alerts.source == "agent"
        if not by_agent and alerting.workers:
            log.warning("alerts.source is rules: Prometheus sends the SLO alerts, so the %d alerting: "
                        "destinations of agent.yaml get nothing from this agent", len(alerting.workers))
        slo = SloService(config, store, journeys, alerting.submit if by_agent else None, clock=clock)
        await slo.start()
        started.insert(0, ("slo", slo.close))
    except BaseException:
        await close_all(started)
        raise
    telemetry.register_slo_gauges(slo.gauges)
    telemetry.slo_counters.track(journeys)  # per-SLO event counters, at 0 from the start for every SLO
    sinks: list[ResultSink] = [telemetry.record, telemetry.slo_counters.record,
                               *([jsonl] if jsonl is not None else []), slo.observe]
    # Stop order: no more evaluations, then the senders get a few seconds to deliver, the jsonl
    # file closes, the browser goes, telemetry makes its final export, and the store flushes last.
    closers = [*started[:-2], ("browser", runner.resources.close), *started[-2:]]
    log.info("telemetry: prometheus %s, otlp %s, jsonl %s", "on" if telemetry.prometheus else "off",
             telemetry.otlp.metrics_endpoint or "on (OTEL_* endpoint)" if telemetry.otlp else "off",
             config.exporters.jsonl.path if config.exporters.jsonl else "off")
    return Parts(store=store, telemetry=telemetry, alerting=alerting, slo=slo, jsonl=jsonl, sinks=sinks,
                 closers=closers)


def _jsonl_sink(config: AgentConfig) -> JsonlSink | None:
    options = config.exporters.jsonl
    if options is None:
        return None
    return JsonlSink(options.path, max_bytes=options.max_bytes, backups=options.backups)


async def close_all(closers: Iterable[tuple[str, Closer]]) -> None:
    """Run each closer in order; one that fails is logged and the others still run."""
    for name, closer in closers:
        try:
            await closer()
        except Exception:
            log.exception("closing the %s failed", name)
