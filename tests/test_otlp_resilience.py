"""A collector that is down, hangs or answers 500 leaves the runs' cadence and the memory alone."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from agent.config.models import OtlpConfig
from agent.probe.context import ProbeSettings
from agent.probe.runner import Runner
from exporters.otlp import resolve
from exporters.prometheus import parse_exposition
from exporters.telemetry import Telemetry
from tests.conftest import free_port, journey
from tests.otlp_receiver import otlp_receiver
from tests.targets import Seen

RUNS = 20
QUEUE = 32


@asynccontextmanager
async def collector(mode: str) -> AsyncIterator[str]:
    """The base URL of a collector that is "down" (nothing listens), or "hang"s, or answers "error"."""
    if mode == "down":
        yield f"http://127.0.0.1:{free_port()}"
        return
    async with otlp_receiver(mode) as receiver:
        yield receiver.url


async def timed_runs(telemetry: Telemetry | None, url: str, count: int = RUNS) -> float:
    slow = {"url": f"{url}/slow", "query": {"delay": "0.05"}}
    j = journey([{"name": "slow", "http": slow}], name="cadence")
    runner = Runner(ProbeSettings(), observer_factory=telemetry.observer if telemetry else None)
    started = time.perf_counter()
    for _ in range(count):
        result = await runner.run(j)
        assert result.passed, result.error
        if telemetry is not None:
            telemetry.record(result, j)
    return time.perf_counter() - started


@pytest.mark.parametrize("mode", ["down", "hang", "error"])
async def test_runs_keep_their_cadence_and_failures_are_counted(target: tuple[str, Seen], mode: str) -> None:
    url, _ = target
    baseline = await timed_runs(None, url)
    async with collector(mode) as endpoint:
        settings = resolve(OtlpConfig(endpoint=endpoint, interval=0.2, timeout=0.5))
        telemetry = Telemetry(otlp=settings, span_queue_size=QUEUE)
        telemetry.watch(SimpleNamespace())
        try:
            elapsed = await timed_runs(telemetry, url)
            assert elapsed <= baseline * 1.5 + 0.3, f"runs took {elapsed:.2f}s, {baseline:.2f}s without OTLP"
            for _ in range(100):  # the first export fails within `timeout` (0.5 s) of the first tick
                if telemetry.failures.counts().get("otlp.metrics", 0) >= 1:
                    break
                await asyncio.sleep(0.1)
            samples = parse_exposition(telemetry.metrics()[0].decode())
            counted = samples["journeyprobe_export_failures_total"]
            failures = {labels["exporter"]: value for labels, value in counted}
            assert failures["otlp.metrics"] >= 1
            assert set(failures) == {"otlp.metrics", "otlp.traces"}
        finally:
            started = time.perf_counter()
            await telemetry.aclose(timeout_s=2.0)
            assert time.perf_counter() - started < 4.0, "shutdown was not bounded"


async def test_span_memory_stays_bounded_while_the_collector_hangs(target: tuple[str, Seen]) -> None:
    url, _ = target
    async with collector("hang") as endpoint:
        settings = resolve(OtlpConfig(endpoint=endpoint, interval=60, timeout=5))
        telemetry = Telemetry(otlp=settings, span_queue_size=QUEUE)
        try:
            get = {"url": f"{url}/json"}
            j = journey([{"name": "a", "http": get}, {"name": "b", "http": get}], name="many")
            runner = Runner(ProbeSettings(), observer_factory=telemetry.observer)
            for _ in range(150):  # 750 spans, against a queue of 32 and an exporter stuck on its first batch
                telemetry.record(await runner.run(j), j)
            gc.collect()
            alive = sum(isinstance(o, ReadableSpan) for o in gc.get_objects())
            assert alive <= 2 * QUEUE + 5, f"{alive} spans kept in memory"
        finally:
            await telemetry.aclose(timeout_s=1.0)
