"""Optional parts of the daemon (telemetry, exporters, SLO engine), installed at start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.daemon.lifecycle import Daemon

log = logging.getLogger("journeyprobe.extensions")


async def install(daemon: Daemon) -> None:
    """Wire each available component into the daemon's sinks, state and closers."""
    install_telemetry(daemon)
    from agent.daemon.slo_service import install_slo

    await install_slo(daemon)


def install_telemetry(daemon: Daemon) -> None:
    """OpenTelemetry metrics and spans, /metrics, OTLP and the jsonl sink, from `daemon.config`.

    Afterwards `daemon.telemetry` is the `exporters.telemetry.Telemetry`: other components
    (the SLO engine) add their gauges with `daemon.telemetry.register_slo_gauges(callback)`.
    """
    from exporters.telemetry import Telemetry

    config = daemon.config
    telemetry = Telemetry.from_config(config)
    daemon.telemetry = telemetry
    daemon.state.extras["telemetry"] = telemetry
    daemon.runner.observer_factory = telemetry.observer
    daemon.sinks.append(telemetry.record)
    if telemetry.prometheus is not None:
        daemon.state.metrics = telemetry.metrics
    dropped: dict[str, Callable[[], int]] = {}
    jsonl_config = config.exporters.jsonl
    if jsonl_config is not None:
        from exporters.jsonl import JsonlSink

        sink = JsonlSink(jsonl_config.path, max_bytes=jsonl_config.max_bytes, backups=jsonl_config.backups)
        daemon.sinks.append(sink)
        daemon.closers.append(lambda: asyncio.to_thread(sink.close))
        dropped["jsonl"] = lambda: sink.dropped
    telemetry.watch(daemon, dropped)
    # Closers run in reverse: the jsonl sink closes first, telemetry last (its final export).
    daemon.closers.insert(0, telemetry.aclose)
    log.info("telemetry: prometheus %s, otlp %s, jsonl %s", "on" if telemetry.prometheus else "off",
             telemetry.otlp.metrics_endpoint or "on (OTEL_* endpoint)" if telemetry.otlp else "off",
             jsonl_config.path if jsonl_config else "off")
