"""A worker process of the daemon (`workers:` in agent.yaml): runs its share of the journeys.

    python -m agent.daemon.worker      (started by agent.daemon.workers, never by hand)

It reads its spec from stdin (worker_link.py's frames) with the journeys the daemon loaded,
keeps those whose worker it is, and runs them on their schedule with its own Runner and
Scheduler: timing, traceparent and spans (exported over OTLP when configured) happen here.
Each finished run goes back to the daemon on stdout, which stores it, counts it for the SLOs
and puts it on /metrics. When stdin ends (the daemon is gone) the worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.config.models import AgentConfig
from agent.daemon.logs import setup_logging, stop_logging
from agent.daemon.process_tuning import collect_less_often
from agent.daemon.scheduler import Scheduler
from agent.daemon.worker_link import Finished, WorkerStats, frame, read_frame, worker_of
from agent.journey.model import Journey
from agent.probe.artifacts import Retention
from agent.probe.context import DEFAULT_USER_AGENT, ProbeResources, ProbeSettings
from agent.probe.runner import Runner
from exporters.otlp import ExportFailures, build_exporters, otlp_enabled, resolve
from exporters.telemetry import Telemetry
from exporters.tracing import RootContexts

log = logging.getLogger("journeyprobe.worker")
STATS_EVERY_S = 1.0
MAX_BACKLOG = 32 * 1024 * 1024
"""Bytes of results waiting for the daemon to read them; beyond that results are dropped (counted)."""


class RequestForwarder:
    """The telemetry's `RequestMetrics` in a worker: requests wait for their run's result.

    A journey never has two runs at once, so its name keys the requests of its run under way."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self.pending: dict[str, list[tuple[float, dict[str, Any]]]] = {}

    def wants(self, journey: Journey | None) -> bool:
        return self._telemetry.wants(journey)

    def record_request(self, journey: Journey | None, duration_s: float, attributes: dict[str, Any],
                       span: Any) -> None:
        if journey is not None:
            self.pending.setdefault(journey.name, []).append((duration_s, attributes))


class Worker:
    """One worker: index `index` of `count`, over the journeys of agent.yaml (and its shard)."""

    def __init__(self, spec: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        self.config = config = AgentConfig.model_validate(spec["config"])
        self.index, self.count = int(spec["index"]), int(spec["count"])
        self.writer = writer
        self.dropped = 0
        self._warned = -60.0
        settings = ProbeSettings(location=config.location, user_agent=config.probe.user_agent or DEFAULT_USER_AGENT,
                                 tracestate=config.probe.tracestate, artifacts_dir=Path(config.artifacts))
        self.runner = Runner(settings)
        self.runner.resources = ProbeResources(browser=config.browser, artifacts_retention=Retention(
            max_age_s=config.artifacts_retention, max_bytes=config.artifacts_max_bytes))
        self.scheduler = Scheduler.for_config(self._execute, config)
        self.telemetry = _telemetry(config)
        self.forwarder = RequestForwarder(self.telemetry)
        # the root spans' ids go back with the results only when OTLP metrics want exemplars
        self.roots = RootContexts() if otlp_enabled(config.exporters.otlp) else None
        self.telemetry.hooks = replace(self.telemetry.hooks, requests=self.forwarder, roots=self.roots)
        self.runner.observer_factory = self.telemetry.observer

    def mine(self, journeys: list[Journey]) -> list[Journey]:
        """Of the daemon's journeys (its shard's, when it has one), this worker's."""
        return [j for j in journeys if worker_of(j.name, self.count) == self.index]

    def update(self, journeys: list[Journey]) -> None:
        """Run these (of the daemon's journeys, the ones this worker owns)."""
        self.scheduler.update(self.mine(journeys))

    async def _execute(self, journey: Journey, scheduled_at: float) -> None:
        result = await self.runner.run(journey)
        requests = tuple(self.forwarder.pending.pop(journey.name, ()))
        root = self.roots.pop(result.trace_id) if self.roots is not None else None
        self.send("result", Finished(result, requests, root.span_id if root is not None else None))

    def send(self, kind: str, payload: Any) -> None:
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BACKLOG:
            self.dropped += 1
            now = time.monotonic()
            if now - self._warned >= 60.0:
                self._warned = now
                log.warning("worker %d: the daemon does not read its results; %d dropped so far",
                            self.index, self.dropped)
            return
        self.writer.write(frame(kind, payload))

    def stats(self) -> WorkerStats:
        s = self.scheduler
        return WorkerStats(in_flight=s.in_flight, waiting=s.waiting, started_total=s.started_total,
                           skipped_total=s.skipped_total, lateness_sum=s.lateness_sum,
                           lateness_buckets=list(s.lateness_buckets))

    async def report(self) -> None:
        while True:
            self.send("stats", self.stats())
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()
            await asyncio.sleep(STATS_EVERY_S)

    async def stop(self, grace: float) -> None:
        self.scheduler.stop_scheduling()
        cancelled = await self.scheduler.drain(grace)
        if cancelled:
            log.warning("worker %d: cancelled %d runs still going after %.0fs", self.index, cancelled, grace)
        await self.runner.resources.close()
        self.send("stats", self.stats())
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()
        await self.telemetry.aclose()


def _telemetry(config: AgentConfig) -> Telemetry:
    """Spans (OTLP traces when configured) and traceparent; no metrics: the daemon keeps those."""
    spans = []
    exporters = config.exporters
    if otlp_enabled(exporters.otlp):
        _, span_exporter = build_exporters(resolve(exporters.otlp), ExportFailures())
        if span_exporter is not None:
            spans.append(span_exporter)
    return Telemetry(location=config.location, tracestate=config.probe.tracestate, prometheus=False,
                     span_exporters=spans, detail=config.telemetry.detail)


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # frames go out on the stdout we were given; anything else written to stdout (a library's
    # print) goes to stderr instead of into the middle of a frame
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, frames)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    first = await read_frame(reader)
    if first is None or first[0] != "spec":
        raise SystemExit("a worker needs its spec on stdin (it is started by the daemon)")
    spec = first[1]
    setup_logging(spec.get("log_format", "text"), spec.get("log_level", "info"))
    collect_less_often()
    worker = Worker(spec, writer)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the daemon stops us
    worker.update(spec["journeys"])
    await worker.scheduler.start()
    gc.collect()
    gc.freeze()  # modules, journeys, the runner: out of every later collection
    tasks = [asyncio.create_task(worker.report(), name="worker-stats")]
    grace = worker.config.grace
    started = time.monotonic()

    async def commands() -> None:
        nonlocal grace
        while True:
            message = await read_frame(reader)
            if message is None:  # the daemon is gone
                grace = min(grace, 2.0)
                break
            kind, payload = message
            if kind == "journeys":
                worker.update(payload)
            elif kind == "stop":
                grace = float(payload)
                break
        stop.set()

    tasks.append(asyncio.create_task(commands(), name="worker-commands"))
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await worker.stop(grace)
    log.debug("worker %d stopped after %.0fs", worker.index, time.monotonic() - started)
    stop_logging()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
