"""`journeyprobe check`: run journeys once, concurrently, and report as a CI step would."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core import redaction
from agent.journey.model import Journey
from agent.probe.context import ProbeSettings
from agent.probe.result import RunResult
from agent.probe.runner import Runner

if TYPE_CHECKING:
    from exporters.telemetry import Telemetry

OTLP_TIMEOUT_S = 5.0
"""Bound of one OTLP export of `check --otlp` (spans and metrics are flushed side by side)."""


async def run_all(journeys: Sequence[Journey], runner: Runner) -> list[RunResult]:
    try:
        return list(await asyncio.gather(*(runner.run(j) for j in journeys)))
    finally:
        if "browser_pool" in runner.resources:
            from agent.probe.browser.pool import close_pool

            await close_pool(runner.resources)


def run_check(journeys: Sequence[Journey], *, overrides: Mapping[str, str], as_json: bool,
              junit: str | None, location: str, otlp: str | None = None) -> int:
    _log_warnings_redacted()
    runner = Runner(ProbeSettings(location=location, artifacts_dir=Path("artifacts")), overrides=overrides)
    telemetry = _otlp_telemetry(otlp, runner) if otlp else None  # opentelemetry is imported only here
    results = asyncio.run(run_all(journeys, runner))
    if as_json:
        sys.stdout.write(json.dumps({"journeys": [r.to_dict() for r in results]}, indent=2) + "\n")
    else:
        from agent.cli.terminal import print_results

        print_results(results)
    if junit:
        from agent.cli.junit import junit_xml

        Path(junit).write_text(junit_xml(results), encoding="utf-8")
    if telemetry is not None:
        _export(telemetry, results, journeys)
    return 0 if all(r.passed for r in results) else 1


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redaction.redact(super().format(record))


def _log_warnings_redacted() -> None:
    """Warnings and errors (an agent fault's traceback) to stderr, through the redactor."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)


def _otlp_telemetry(endpoint: str, runner: Runner) -> Telemetry:
    from agent.config.models import OtlpConfig
    from exporters.otlp import resolve
    from exporters.telemetry import Telemetry

    settings = resolve(OtlpConfig(endpoint=endpoint, timeout=OTLP_TIMEOUT_S))
    telemetry = Telemetry(location=runner.settings.location, tracestate=runner.settings.tracestate,
                          prometheus=False, otlp=settings)
    runner.observer_factory = telemetry.observer
    return telemetry


def _export(telemetry: Telemetry, results: Sequence[RunResult], journeys: Sequence[Journey]) -> None:
    """Record the runs' metrics, then flush and stop the exporters within a bounded time."""
    for result, journey in zip(results, journeys, strict=True):
        telemetry.record(result, journey)
    finished = telemetry.shutdown(timeout_s=OTLP_TIMEOUT_S + 1)
    failures = telemetry.failures.total()
    if not finished or failures:
        where = telemetry.otlp.metrics_endpoint if telemetry.otlp else "the collector"
        sys.stderr.write(f"warning: OTLP export to {where} did not complete "
                         f"({failures} failed exports{'' if finished else ', timed out'})\n")
