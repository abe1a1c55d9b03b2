"""`journeyprobe check`: run journeys once, concurrently, and report as a CI step would."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from agent.cli.inputs import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from agent.cli.progress import Progress
from agent.cli.progress_view import LiveView, PlainView, showing
from agent.config.models import BrowserConfig
from agent.core import redaction
from agent.journey.model import Journey
from agent.probe.context import ProbeSettings
from agent.probe.result import ErrorType, RunResult
from agent.probe.runner import Runner

if TYPE_CHECKING:
    from exporters.telemetry import Telemetry

OTLP_TIMEOUT_S = 5.0
"""Bound of one OTLP export of `check --otlp` (spans and metrics are flushed side by side)."""


@dataclass
class CheckOptions:
    settings: ProbeSettings = field(default_factory=lambda: ProbeSettings(artifacts_dir=Path("artifacts")))
    browser: BrowserConfig | None = None
    environ: Mapping[str, str] | None = None  # where env. and secret. read; None: the process environment
    overrides: Mapping[str, str] = field(default_factory=dict)
    as_json: bool = False
    junit: str | None = None
    github: bool = False
    progress: bool = True
    otlp: str | None = None


async def run_all(journeys: Sequence[Journey], runner: Runner) -> list[RunResult]:
    try:
        return list(await asyncio.gather(*(runner.run(j) for j in journeys)))
    finally:
        await runner.resources.close()


def run_check(journeys: Sequence[Journey], options: CheckOptions) -> int:
    """Run, report on stdout (and in the JUnit file), return the exit code."""
    _log_warnings_redacted()
    runner = Runner(options.settings, environ=options.environ, overrides=options.overrides)
    if options.browser is not None:
        runner.resources.browser = options.browser
    telemetry = _otlp_telemetry(options.otlp, runner) if options.otlp else None  # opentelemetry only here
    progress = Progress(len(journeys))
    progress.view = _view(progress, options) if options.progress else None
    runner.observer_factory = progress.observer_factory(runner.observer_factory)  # type: ignore[arg-type]

    async def run() -> list[RunResult]:
        async with showing(progress.view):
            return await run_all(journeys, runner)

    started = time.perf_counter()
    results = asyncio.run(run())
    wall_s = time.perf_counter() - started
    _report(results, journeys, options, wall_s)
    if telemetry is not None:
        _export(telemetry, results, journeys)
    unset = [r for r in results if r.error_type == ErrorType.MISSING_ENV]
    if unset:  # found before running as a rule; a journey changed on disk meanwhile would land here
        for result in unset:
            sys.stderr.write(f"journey {result.journey!r}: {result.steps[0].error}\n")
        return EXIT_BAD_INPUT
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def _view(progress: Progress, options: CheckOptions) -> LiveView | PlainView | None:
    """Live on a terminal; plain lines on stdout otherwise; with --json, live on stderr's terminal or none."""
    from rich.console import Console

    stream: TextIO = sys.stderr if options.as_json else sys.stdout
    if stream.isatty():
        return LiveView(Console(file=stream), progress)
    return None if options.as_json else PlainView(stream, progress)


def _report(results: Sequence[RunResult], journeys: Sequence[Journey], options: CheckOptions, wall_s: float) -> None:
    if options.as_json:
        sys.stdout.write(json.dumps({"journeys": [r.to_dict() for r in results]}, indent=2) + "\n")
    else:
        from agent.cli.terminal import print_results

        print_results(results)
    if options.github:
        from agent.cli.github import result_annotations

        stream = sys.stderr if options.as_json else sys.stdout
        for line in result_annotations(results, journeys, options.environ):
            stream.write(line + "\n")
        stream.flush()
    if options.junit:
        from agent.cli.inputs import write_or_exit
        from agent.cli.junit import junit_xml

        write_or_exit("--junit", options.junit, junit_xml(results, wall_time_s=wall_s))


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
