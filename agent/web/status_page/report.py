"""`journeyprobe report`: the status page's numbers as one self-contained file for a monthly review.

HTML (stylesheet and SVG inline, no script, no external request) or Markdown (tables and the
same sentences). The same store and the same `now` give the same bytes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from agent.config.models import AgentConfig
from agent.core.clock import system_clock
from agent.journey.model import Journey
from agent.web.status_page import charts, render
from agent.web.status_page.data import DAY, Overview, build_overview, minute_range, slo_entries_from_store
from agent.web.status_page.journey import (
    FailureView,
    StepView,
    bucket_seconds,
    duration_points,
    failure_view,
    step_views,
)
from agent.web.status_page.text import period_text, time_text, truncated_percent, window_text

if TYPE_CHECKING:
    from agent.store.sqlite import Store

FORMATS = ("html", "md")
REPORT_FAILURES = 5
STRIP_SYMBOLS = {"ok": "✓", "fail": "✗", "timeout": "⏱", "error": "!", "agent": "·"}


@dataclass(slots=True)
class Section:
    """One journey in the report's detail part."""

    name: str
    description: str
    runs: int
    failed: int
    summary: str
    steps: list[StepView]
    failures: list[FailureView]
    chart: Markup | None


@dataclass(slots=True)
class Report:
    overview: Overview
    window_text: str
    period: str
    until: str
    location: str
    sections: list[Section] = field(default_factory=list)


def report_windows(window_s: float) -> list[float]:
    """The success columns: 24 h, 7 d and the report window, none longer than the window."""
    return sorted({w for w in (DAY, 7 * DAY) if w < window_s} | {window_s})


class _NoStore:
    async def minute_counts(self, slo: str, journey: str, since_minute: int,
                            until_minute: int) -> list[tuple[int, int, int, int]]:
        return []


async def _section(store: Store, journey: Journey, now: float, window_s: float) -> Section:
    good, total, _ = await store.count_totals("", journey.name, *minute_range(window_s, now))
    failed = total - good
    period = window_text(window_s)
    if total and not failed:
        summary = f"All {total} runs passed in the last {period}."
    elif total:
        summary = (f"{truncated_percent(good / total, 2)} of {total} runs passed in the last {period}; "
                   f"{failed} did not.")
    else:
        summary = f"No runs in the last {period}."
    results = await store.failed_runs(journey.name, REPORT_FAILURES, since=now - window_s, until=now)
    bucket_s = bucket_seconds(window_s, journey.interval)
    points = await duration_points(store, journey.name, now, window_s, bucket_s)
    chart = charts.duration_charts(points, now - window_s, now, bucket_s) if points else None
    return Section(journey.name, journey.description, total, failed, summary, step_views(journey),
                   [failure_view(r, now, None) for r in results], chart)


async def build_report(config: AgentConfig, journeys: Sequence[Journey], window_s: float,
                       now: float) -> Report:
    """Everything the report shows, read from the store at `config.storage.path` (never written)."""
    from agent.slo.engine import load_reports
    from agent.slo.status import slo_list
    from agent.store.sqlite import Store

    by_name = {j.name: j for j in journeys}
    path = config.storage.path
    exists = path == ":memory:" or await asyncio.to_thread(Path(path).exists)
    store = await Store.open(path, retention_s=float("inf")) if exists else None  # inf: prune nothing
    try:
        if store is not None:
            entries = await slo_entries_from_store(store, list(journeys), now, config.location)
        else:
            entries = slo_list(await load_reports(_NoStore(), list(journeys), now))
        overview = await build_overview(store, by_name, entries, now, location=config.location,
                                        pct_window_s=window_s, windows=report_windows(window_s))
        sections = [await _section(store, by_name[n], now, window_s) for n in sorted(by_name)] \
            if store is not None else []
    finally:
        if store is not None:
            await store.close()
    return Report(overview, window_text(window_s), period_text(now - window_s, now),
                  time_text(now), config.location, sections)


def render_report(report: Report, fmt: str) -> str:
    """The report as HTML or Markdown text."""
    if fmt == "html":
        return render.render_html("report.html", r=report, o=report.overview, refresh=0, static=True,
                                  signed_in=False)
    if fmt == "md":
        return render.render_markdown("report.md.j2", r=report, o=report.overview, symbols=STRIP_SYMBOLS)
    raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


def write_report(config: AgentConfig, journeys: Sequence[Journey], window_s: float, fmt: str,
                 output: str | os.PathLike[str], now: float | None = None) -> None:
    """Write the report of the `window_s` seconds up to `now` (default: the present) to `output`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    if window_s < 3600:
        raise ValueError("the report window must be at least an hour, such as 7d or 28d")
    moment = system_clock() if now is None else now
    report = asyncio.run(build_report(config, journeys, window_s, moment))
    Path(output).write_text(render_report(report, fmt), encoding="utf-8", newline="\n")

