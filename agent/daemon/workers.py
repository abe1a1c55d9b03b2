"""Worker processes under one daemon (`workers: N` in agent.yaml): every core runs journeys.

One Python process runs its event loop on one core. With `workers: N` (or `auto`: one per
core) the daemon starts N worker processes (agent/daemon/worker.py), each running the journeys
`worker_of` gives it, and keeps everything else to itself: one port (API, status page,
/metrics), one store writer, the SLO engine, alerting and the file watcher. Workers send each
finished run back; the daemon publishes it as if it had run it (store, run log, SLO counts,
metrics, jsonl). A worker that dies is started again (after 1 s, then up to 30 s apart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.trace import SpanContext, TraceFlags

from agent.daemon.logs import JsonFormatter
from agent.daemon.scheduler import LATENESS_BOUNDS
from agent.daemon.worker_link import Finished, WorkerStats, frame, read_frame

if TYPE_CHECKING:
    from agent.config.models import AgentConfig
    from agent.daemon.compose import Parts
    from agent.journey.model import Journey
    from agent.probe.result import RunResult
    from agent.web.state import AgentState


class Daemon(Protocol):
    """What the pool needs of agent.daemon.lifecycle.Daemon (which imports this module)."""

    config: AgentConfig
    state: AgentState
    parts: Parts | None

    async def publish(self, result: RunResult, journey: Journey) -> None: ...

log = logging.getLogger("journeyprobe.workers")
RESTART_AFTER_S = (1.0, 30.0)
STOP_SLACK_S = 5.0


def worker_count(setting: int | str) -> int:
    """`workers: auto` is one per core this process may use; a number is taken as it is."""
    if setting == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return max(1, int(setting))


class WorkerPool:
    """The daemon's workers. Its counters stand in for the scheduler's in the agent's own metrics."""

    lateness_bounds = LATENESS_BOUNDS

    def __init__(self, daemon: Daemon, count: int) -> None:
        self.daemon = daemon
        self.count = count
        self._processes: list[asyncio.subprocess.Process | None] = [None] * count
        self._stats = [WorkerStats(lateness_buckets=[0] * len(LATENESS_BOUNDS)) for _ in range(count)]
        self._retired = WorkerStats(lateness_buckets=[0] * len(LATENESS_BOUNDS))  # of workers that died
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._grace = daemon.config.grace
        self.restarts = 0
        self.unknown = 0
        """Results of journeys the daemon does not know (removed meanwhile): not published."""

    # -- counters (read by the agent's own metrics, from any thread) -------------------------------
    def _sum(self, name: str) -> Any:
        return sum(getattr(s, name) for s in [*self._stats, self._retired])

    @property
    def in_flight(self) -> int:
        return sum(s.in_flight for s in self._stats)

    @property
    def waiting(self) -> int:
        return sum(s.waiting for s in self._stats)

    @property
    def started_total(self) -> int:
        return int(self._sum("started_total"))

    @property
    def skipped_total(self) -> int:
        return int(self._sum("skipped_total"))

    @property
    def lateness_sum(self) -> float:
        return float(self._sum("lateness_sum"))

    @property
    def lateness_buckets(self) -> list[int]:
        return [sum(column) for column in zip(*(s.lateness_buckets for s in [*self._stats, self._retired]),
                                              strict=True)]

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        for index in range(self.count):
            await self._spawn(index)
        log.info("%d worker processes run the journeys", self.count)

    def spec(self, index: int) -> dict[str, Any]:
        root = logging.getLogger()
        json_logs = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        return {"config": self.daemon.config.model_dump(mode="json", by_alias=True),
                "journeys": list(self.daemon.state.journeys.values()), "index": index, "count": self.count,
                "log_format": "json" if json_logs else "text", "log_level": logging.getLevelName(root.level)}

    async def _spawn(self, index: int) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.daemon.worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=2**20)
        assert process.stdin is not None
        process.stdin.write(frame("spec", self.spec(index)))
        await process.stdin.drain()
        self._processes[index] = process
        self._tasks.append(asyncio.create_task(self._listen(index, process), name=f"journeyprobe-worker-{index}"))

    async def _listen(self, index: int, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            try:
                message = await read_frame(process.stdout)
            except (ValueError, EOFError, OSError) as exc:
                log.error("worker %d: unreadable output (%s); stopping it", index, exc)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                message = None
            if message is None:
                break
            kind, payload = message
            if kind == "result":
                await self._publish(payload)
            elif kind == "stats":
                self._stats[index] = payload
        code = await process.wait()
        self._retire(index)
        if not self._stopping:
            self.restarts += 1
            delay = min(RESTART_AFTER_S[0] * 2 ** min(self.restarts - 1, 5), RESTART_AFTER_S[1])
            log.error("worker %d exited (code %s); starting it again in %.0fs", index, code, delay)
            await asyncio.sleep(delay)
            if not self._stopping:
                await self._spawn(index)

    def _retire(self, index: int) -> None:
        """Keep a dead worker's totals: counters never go back."""
        last = self._stats[index]
        retired = self._retired
        retired.started_total += last.started_total
        retired.skipped_total += last.skipped_total
        retired.lateness_sum += last.lateness_sum
        retired.lateness_buckets = [a + b for a, b in zip(retired.lateness_buckets, last.lateness_buckets,
                                                          strict=True)]
        self._stats[index] = WorkerStats(lateness_buckets=[0] * len(LATENESS_BOUNDS))

    async def _publish(self, finished: Finished) -> None:
        daemon = self.daemon
        result = finished.result
        journey = daemon.state.journeys.get(result.journey)
        if journey is None:
            self.unknown += 1
            return
        telemetry = daemon.parts.telemetry if daemon.parts is not None else None
        if telemetry is not None:
            if finished.root_span_id is not None and telemetry.roots is not None:
                telemetry.roots.add(SpanContext(int(result.trace_id, 16), finished.root_span_id, is_remote=False,
                                                trace_flags=TraceFlags(TraceFlags.SAMPLED)))
            for duration, attributes in finished.requests:
                telemetry.record_request(journey, duration, attributes, None)
        await daemon.publish(result, journey)

    def reload(self) -> None:
        """Hand every worker the journeys the daemon has just loaded (each keeps its own)."""
        message = frame("journeys", list(self.daemon.state.journeys.values()))
        for process in self._processes:
            if process is not None and process.stdin is not None and not process.stdin.is_closing():
                process.stdin.write(message)

    async def stop(self, grace: float) -> None:
        """Workers finish their runs within `grace` (their results still come in), then exit."""
        self._stopping = True
        for process in self._processes:
            if process is not None and process.stdin is not None and not process.stdin.is_closing():
                process.stdin.write(frame("stop", grace))
                with contextlib.suppress(ConnectionError):
                    await process.stdin.drain()
        listening = [t for t in self._tasks if not t.done()]
        if listening:
            _, late = await asyncio.wait(listening, timeout=grace + STOP_SLACK_S)
            for process in self._processes:
                if process is not None and process.returncode is None:
                    log.warning("a worker did not stop within %.0fs; killing it", grace + STOP_SLACK_S)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
