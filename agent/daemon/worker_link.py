"""What the daemon and its worker processes say to each other, and which worker runs which journey.

Frames on the worker's stdin (commands) and stdout (results, stats): a 4-byte big-endian
length, then a pickle. Both ends are this package in processes the daemon started itself;
nothing else writes to those pipes.

    daemon -> worker   ("spec", dict)          first frame: agent.yaml, the journeys, worker index
                       ("journeys", list)      the journeys after a reload
                       ("stop", grace_s)       finish the runs under way, then exit
    worker -> daemon   ("result", Finished)    one finished run
                       ("stats", dict)         the worker's schedule keeping, every second
"""

from __future__ import annotations

import asyncio
import copyreg
import dataclasses
import hashlib
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.probe.result import AttemptSummary, Phases, RunResult, StepResult

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Finished:
    """A run a worker finished, with what the daemon's telemetry needs besides the result."""

    result: RunResult
    requests: tuple[tuple[float, dict[str, Any]], ...] = ()
    """(seconds, attributes) of each HTTP request, for journeys at `requests` detail."""
    root_span_id: int | None = None
    """The run's root span, so that OTLP histogram points get their exemplar."""


@dataclass(slots=True)
class WorkerStats:
    """A worker's counters as the scheduler keeps them (summed over workers by the daemon)."""

    in_flight: int = 0
    waiting: int = 0
    started_total: int = 0
    skipped_total: int = 0
    lateness_sum: float = 0.0
    lateness_buckets: list[int] = field(default_factory=list)


def _as_arguments(cls: type) -> Callable[[Any], tuple[type, tuple[Any, ...]]]:
    names = tuple(f.name for f in dataclasses.fields(cls))
    return lambda item: (cls, tuple(getattr(item, name) for name in names))


for _result_class in (Phases, StepResult, RunResult, AttemptSummary):
    # results travel as their fields in order, rebuilt by the constructor: cheaper both ways than
    # the generic state of a frozen dataclass with slots (a result crosses the pipe every run)
    copyreg.pickle(_result_class, _as_arguments(_result_class))


def frame(kind: str, payload: Any) -> bytes:
    body = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[str, Any] | None:
    """The next frame, or None at the end of the stream."""
    try:
        head = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(head)
        if size > MAX_FRAME:
            raise ValueError(f"a frame of {size} bytes from a worker: the stream is out of step")
        kind, payload = pickle.loads(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        return None
    return str(kind), payload


def worker_of(name: str, count: int) -> int:
    """The worker (0..count-1) that runs journey `name`: rendezvous hashing, as `shard` does, but
    salted so that the workers of one shard share its journeys evenly."""
    def weight(worker: int) -> int:
        key = f"worker\x00{worker}\x00{name}".encode("utf-8", "surrogatepass")
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return max(range(count), key=weight)
