"""GitHub Actions annotations: `::error file=F,line=L,title=T::message` for each journey that did not pass.

GitHub shows them on the pull request's diff at the line of the failing step (or browser action, or
expectation) and in the run's summary. `::warning` marks a journey that passed only on a retry.
Workflow-command escaping follows GitHub's toolkit (`%`, CR, LF; and `:` `,` in properties).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.journey.loader import key_lines
from agent.journey.model import Journey
from agent.probe.result import Outcome, RunResult


def enabled(flag: bool | None, environ: Mapping[str, str]) -> bool:
    """`--github`/`--no-github` when given, else on inside GitHub Actions (GITHUB_ACTIONS=true)."""
    return flag if flag is not None else environ.get("GITHUB_ACTIONS") == "true"


def annotation(level: str, message: str, *, file: str | None = None, line: int | None = None,
               title: str | None = None) -> str:
    props = {"file": file, "line": str(line) if line else None, "title": title}
    shown = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items() if v)
    return f"::{level}{' ' + shown if shown else ''}::{_escape_data(message)}"


def result_annotations(results: Sequence[RunResult], journeys: Sequence[Journey],
                       environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    by_name = {j.name: j for j in journeys}
    lines_of: dict[str, dict[tuple[object, ...], int]] = {}
    out = []
    for run in results:
        journey = by_name.get(run.journey)
        source = journey.source if journey else None
        if source and source not in lines_of:
            lines_of[source] = key_lines(source)
        lines = lines_of.get(source or "", {})
        file = _workspace_path(source, environ) if source else None
        if not run.passed:
            index, step = next(((i, s) for i, s in enumerate(run.steps) if s.outcome is not Outcome.SUCCESS),
                               (0, None))
            where = _where(journey, index, step, lines) if journey else ()
            line = next((lines[p] for p in (where, ("steps", index), ("name",)) if p in lines), None)
            what = f"{step.name}: {step.error or step.outcome.value}" if step else run.outcome.value
            out.append(annotation("error", f"{what} (trace {run.trace_id})", file=file, line=line,
                                  title=f"journey {run.journey}: {run.outcome.value}"
                                        + (f" ({run.error_type})" if run.error_type else "")))
        elif run.flaky:
            first = run.earlier_attempts[0]
            out.append(annotation("warning", f"passed on attempt {run.attempt}; attempt 1 was "
                                  f"{first.outcome.value}: {first.error} (trace {first.trace_id})",
                                  file=file, line=lines.get(("retry",)) or lines.get(("name",)),
                                  title=f"journey {run.journey}: flaky"))
    return out


def _where(journey: Journey, index: int, step: object, lines: Mapping[tuple[object, ...], int]) -> tuple[object, ...]:
    """The key path of what failed: the browser action, else the expectation, else the step."""
    actions = getattr(step, "actions", ()) or ()
    failed = next((i for i, a in enumerate(actions) if a.get("outcome") not in ("success", "skipped")), None)
    if failed is not None:
        return ("steps", index, "browser", failed)
    expectations = getattr(step, "expectations", ()) or ()
    if expectations and index < len(journey.steps):
        for number, text in enumerate(journey.steps[index].expect):
            if text in expectations[0]:
                return ("steps", index, "expect", number)
    return ("steps", index)


def _workspace_path(source: str, environ: Mapping[str, str]) -> str:
    """The file relative to the repository (GITHUB_WORKSPACE) when inside it, as GitHub wants."""
    workspace = environ.get("GITHUB_WORKSPACE")
    path = Path(source)
    if workspace:
        try:
            return path.resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
