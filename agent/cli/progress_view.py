"""How `check` shows its progress: a live display on a terminal, plain lines in a log.

LiveView (rich Live): one line per running journey with its current step and both timers, a
line per journey as it ends, a footer with the counts; erased when done, before the results.
PlainView (CI logs, pipes): a line when a run starts, when each step ends and when the run ends,
and every `heartbeat_s` the runs still going, so a hang is visible while it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from agent.cli.progress import Progress, Running, View
from agent.cli.terminal import MARK, STYLE, duration_text
from agent.probe.result import Outcome, RunResult, StepResult

HEARTBEAT_S = 10.0


def _clock(seconds: float) -> str:
    """A running timer: `0.4s`, `12.0s`, `2m05s`."""
    seconds = max(0.0, seconds)
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _attempt(run: Running | RunResult) -> str:
    return f" (attempt {run.attempt})" if run.attempt > 1 else ""


class PlainView:
    def __init__(self, out: TextIO, progress: Progress | None = None) -> None:
        self.out = out
        self.progress = progress

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run_started(self, run: Running) -> None:
        self._line(f"▶ {run.journey}: started{_attempt(run)}, {run.steps_total} step"
                   f"{'' if run.steps_total == 1 else 's'}")

    def step_started(self, run: Running) -> None:
        pass

    def step_finished(self, run: Running, result: StepResult) -> None:
        if result.outcome is Outcome.SKIPPED:
            return
        error = f": {result.error}" if result.error else ""
        self._line(f"  {run.journey} › {result.name}: {result.outcome.value} {duration_text(result.duration_s)}"
                   f"{error}")

    def run_finished(self, result: RunResult, final: bool) -> None:
        then = "" if final else ", retrying"
        self._line(f"{MARK[result.outcome]} {result.journey}: {result.outcome.value}{_attempt(result)} "
                   f"{duration_text(result.duration_s)}{then}")

    def heartbeat(self) -> None:
        if self.progress is None:
            return
        running, _ = self.progress.snapshot()
        now = self.progress.clock()
        for run in sorted(running, key=lambda r: r.started):
            step = (f" › {run.step} ({run.step_index + 1}/{run.steps_total}) for "
                    f"{_clock(now - run.step_started)}") if run.step else ""
            self._line(f"… {run.journey}: running for {_clock(now - run.started)}{step}")


class LiveView:
    def __init__(self, console: Console, progress: Progress) -> None:
        self.console = console
        self.progress = progress
        self.live = Live(get_renderable=self.render, console=console, transient=True, refresh_per_second=8,
                         redirect_stdout=False, redirect_stderr=False)
        self._spinners: dict[str, Spinner] = {}

    def render(self) -> RenderableType:
        running, finished = self.progress.snapshot()
        now = self.progress.clock()
        table = Table.grid(padding=(0, 1))
        for _ in range(5):
            table.add_column()
        for run in sorted(running, key=lambda r: r.started):
            spinner = self._spinners.setdefault(run.journey, Spinner("dots", style="cyan"))
            step = (Text.assemble("› ", (run.step, "bold"), f" ({run.step_index + 1}/{run.steps_total})")
                    if run.step else Text("starting", "dim"))
            table.add_row(spinner, Text(run.journey + _attempt(run), "bold"),
                          Text(_clock(now - run.started), "dim"), step,
                          Text(_clock(now - run.step_started) if run.step else "", "yellow"))
        passed = sum(r.passed for r in finished)
        footer = Text(f"{len(finished)} of {self.progress.total} journeys done ({passed} passed), "
                      f"{len(running)} running, {_clock(now - self.progress.started)}", "dim")
        return Group(table, footer)

    def run_started(self, run: Running) -> None:
        pass

    def step_started(self, run: Running) -> None:
        pass

    def step_finished(self, run: Running, result: StepResult) -> None:
        pass

    def run_finished(self, result: RunResult, final: bool) -> None:
        self._spinners.pop(result.journey, None)
        failed = next((s for s in result.steps if s.outcome is not Outcome.SUCCESS), None)
        why = f"  {failed.name}: {failed.error}" if failed and failed.error else ""
        self.console.print(Text.assemble(
            (f"{MARK[result.outcome]} {result.journey}", f"bold {STYLE[result.outcome]}"),
            f"  {result.outcome.value}{_attempt(result)}  {duration_text(result.duration_s)}",
            ("  retrying" if not final else "", "yellow"), (why, "dim")), overflow="ellipsis", no_wrap=True)

    def heartbeat(self) -> None:
        pass


@contextlib.asynccontextmanager
async def showing(view: View | None, heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[None]:
    """Keep the view going while the block runs: the live display, or the plain heartbeat."""
    if view is None:
        yield
        return
    beat = asyncio.create_task(_beat(view, heartbeat_s)) if isinstance(view, PlainView) else None
    live = view.live if isinstance(view, LiveView) else None
    if live is not None:
        live.start()
    try:
        yield
    finally:
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if live is not None:
            live.stop()


async def _beat(view: PlainView, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        view.heartbeat()
