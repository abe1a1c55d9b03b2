"""A readable per-step table of results on a terminal, made with rich."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from agent.probe.result import Outcome, RunResult

STYLE = {Outcome.SUCCESS: "green", Outcome.FAILURE: "red", Outcome.TIMEOUT: "magenta",
         Outcome.ERROR: "red", Outcome.SKIPPED: "dim"}
MARK = {Outcome.SUCCESS: "✔", Outcome.FAILURE: "✘", Outcome.TIMEOUT: "⏱", Outcome.ERROR: "✘",
        Outcome.SKIPPED: "·"}


def duration_text(seconds: float | None) -> str:
    """`28ms` below 10 s, `12.3s` from there."""
    return "" if seconds is None else f"{seconds * 1000:.0f}ms" if seconds < 10 else f"{seconds:.1f}s"


def run_table(run: RunResult) -> Group:
    style = STYLE[run.outcome]
    header = Text.assemble((f"{MARK[run.outcome]} {run.journey}", f"bold {style}"),
                           (f"  {run.outcome.value}", style), f"  {duration_text(run.duration_s)}",
                           ("  trace ", "dim"), (run.trace_id, "cyan"))
    if run.earlier_attempts:
        first = run.earlier_attempts[0]
        header.append(f"  (attempt {run.attempt}; attempt 1 was {first.outcome.value}: {first.error})",
                      "yellow")
    table = Table(show_edge=False, box=None, pad_edge=False, header_style="dim")
    for column in ("step", "outcome", "status", "duration", "dns", "connect", "tls", "ttfb", "transfer"):
        table.add_column(column, justify="left" if column in ("step", "outcome") else "right")
    notes: list[Text] = []
    for step in run.steps:
        phases = step.phases
        table.add_row(
            step.name, Text(step.outcome.value, STYLE[step.outcome]),
            "" if step.status is None else str(step.status),
            "" if step.outcome is Outcome.SKIPPED else duration_text(step.duration_s),
            *(("",) * 5 if phases is None else
              tuple(duration_text(s) for s in (phases.dns_s, phases.connect_s, phases.tls_s, phases.ttfb_s,
                                               phases.transfer_s))),
        )
        if step.error:
            notes.append(Text.assemble(("  → ", STYLE[step.outcome]), (f"{step.name}: ", "bold"),
                                       step.error))
        for extra in step.expectations[1:]:
            notes.append(Text(f"    also: {extra}", "red"))
        for path in step.artifacts:
            notes.append(Text(f"    artifact: {path}", "dim"))
    return Group(header, table, *notes, Text(""))


def print_results(results: Sequence[RunResult], console: Console | None = None) -> None:
    console = console or Console()
    for run in results:
        console.print(run_table(run))
    passed = sum(r.passed for r in results)
    flaky = sum(r.flaky for r in results)
    summary = f"{passed} of {len(results)} journeys passed"
    if flaky:
        summary += f" ({flaky} only after a retry)"
    console.print(Text(summary, "bold green" if passed == len(results) else "bold red"))
