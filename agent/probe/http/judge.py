"""Checking an http step's response: its expectations, then its extracts, bounded and off the loop when large.

Regexes are RE2 (linear time) and JSON is parsed once, but a large body still costs CPU: above
OFF_LOOP_BYTES the work runs in a worker thread of its own small pool, so that other journeys,
/healthz and /metrics go on meanwhile; the step's deadline (the runner's timeout) still bounds
the wait. Whatever the work raises is the response's doing: a StepError of type
`invalid_response`, never the agent's `internal` error.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agent.expect.expression import parse, parse_subject
from agent.expect.regex import compile_regex, search
from agent.expect.response import MISSING, ResponseView
from agent.journey.model import RegexExtract, Step
from agent.probe.context import StepError
from agent.probe.faults import exception_text
from agent.probe.result import ErrorType

OFF_LOOP_BYTES = 64 * 1024
WORKERS = 2
log = logging.getLogger("journeyprobe.http")
_pool: list[ThreadPoolExecutor] = []


@dataclass(frozen=True)
class Verdict:
    """The messages of the expectations that failed, else the values the extracts took."""

    failures: tuple[str, ...] = ()
    extracted: dict[str, Any] = field(default_factory=dict)


async def judge(step: Step, view: ResponseView, size: int) -> Verdict:
    """Check `view` against the step; a body over OFF_LOOP_BYTES is checked in a worker thread."""
    if size <= OFF_LOOP_BYTES:
        return judge_now(step, view)
    return await asyncio.get_running_loop().run_in_executor(_executor(), judge_now, step, view)


def judge_now(step: Step, view: ResponseView) -> Verdict:
    """Expectations in order, then extracts; raises StepError (extract or invalid_response)."""
    try:
        failures = tuple(msg for msg in (parse(e).evaluate(view) for e in step.expect) if msg)
        return Verdict(failures) if failures else Verdict((), _extract(step, view))
    except StepError:
        raise
    except Exception as exc:  # the response led the checks astray: the target's fault, said plainly
        log.debug("checking the response of step %r raised", step.name, exc_info=True)
        raise StepError(f"could not check the response: {exception_text(exc)}",
                        ErrorType.INVALID_RESPONSE) from None


def _extract(step: Step, view: ResponseView) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in step.extract.items():
        if isinstance(spec, RegexExtract):
            source = parse_subject(spec.from_).resolve(view)
            program = compile_regex(spec.regex)
            match = search(program, "" if source is MISSING else str(source))
            if match is None or spec.group > program.groups:
                raise StepError(f"extract {name}: regex {spec.regex!r} found nothing in {spec.from_}",
                                ErrorType.EXTRACT)
            out[name] = match.group(spec.group)
        else:
            value = parse_subject(spec).resolve(view)
            if value is MISSING:
                raise StepError(f"extract {name}: {spec} is not in the response", ErrorType.EXTRACT)
            out[name] = value
    return out


def _executor() -> ThreadPoolExecutor:
    if not _pool:
        _pool.append(ThreadPoolExecutor(WORKERS, thread_name_prefix="journeyprobe-expect"))
    return _pool[0]
