"""`journeyprobe check`: run journeys once, concurrently, and report as a CI step would."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.model import Journey
from agent.result import RunResult
from agent.runner import Runner
from agent.steps.base import ProbeSettings


async def run_all(journeys: Sequence[Journey], runner: Runner) -> list[RunResult]:
    return list(await asyncio.gather(*(runner.run(j) for j in journeys)))


def run_check(journeys: Sequence[Journey], *, overrides: Mapping[str, str], as_json: bool,
              junit: str | None, location: str, otlp: str | None = None) -> int:
    runner = Runner(ProbeSettings(location=location, artifacts_dir=Path("artifacts")), overrides=overrides)
    results = asyncio.run(run_all(journeys, runner))
    if as_json:
        sys.stdout.write(json.dumps({"journeys": [r.to_dict() for r in results]}, indent=2) + "\n")
    else:
        from agent.output.terminal import print_results

        print_results(results)
    if junit:
        from agent.output.junit import junit_xml

        Path(junit).write_text(junit_xml(results), encoding="utf-8")
    return 0 if all(r.passed for r in results) else 1
