"""What a journey's own page shows: its steps, recent failures with their evidence, durations."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from markupsafe import Markup

from agent.journey.browser_model import BrowserAction
from agent.journey.model import Journey
from agent.web.status_page import charts
from agent.web.status_page.data import DAY, JourneyRow, SloCard, failing_step, journey_row, slo_card, started_ts
from agent.web.status_page.text import ago_text, duration_text, redact_url, shorten, time_text, window_text

if TYPE_CHECKING:
    from agent.store.sqlite import Store

FAILURES = 10
CHART_BUCKETS = 96  # 15 minutes over a day


@dataclass(frozen=True, slots=True)
class StepView:
    number: int
    name: str
    kind: str
    calls: list[str]
    expects: list[str]


@dataclass(frozen=True, slots=True)
class Artifact:
    label: str
    kind: str
    href: str | None


@dataclass(frozen=True, slots=True)
class FailureView:
    when: str
    ago: str
    outcome: str
    step: str
    error: str
    error_type: str
    trace_id: str
    duration: str
    artifacts: list[Artifact] = field(default_factory=list)
    counted: bool = True  # False: the probe host failed, not the target (no SLO event)

    @property
    def css(self) -> str:
        if not self.counted:
            return "agent"
        return {"timeout": "timeout", "error": "error"}.get(self.outcome, "fail")

    @property
    def label(self) -> str:
        return "probe problem (not counted)" if not self.counted else self.outcome


@dataclass(slots=True)
class JourneyPage:
    row: JourneyRow
    journey: Journey | None
    interval: str
    labels: dict[str, str]
    steps: list[StepView]
    failures: list[FailureView]
    chart: Markup | None
    chart_label: str
    cards: list[SloCard]


def action_text(action: BrowserAction) -> str:
    """A browser action in words; what is typed into a field is never shown."""
    o: Any = action.options
    texts = {
        "goto": lambda: f"open {redact_url(o.url)}",
        "click": lambda: f"click {o.selector}",
        "fill": lambda: f"fill in {o.selector}",
        "press": lambda: f"press {o.key}" + (f" in {o.selector}" if o.selector else ""),
        "select": lambda: f"choose an option of {o.selector}",
        "wait_for": lambda: f"wait until {o.selector} is {o.state}",
        "expect_text": lambda: f"expect “{o.text}” in {o.selector}",
        "expect_visible": lambda: f"expect {o.selector} to be visible",
        "expect_url": lambda: f"expect the address {redact_url(o.url)}",
        "screenshot": lambda: f"take the screenshot {o.name}",
    }
    return texts[action.action]()


def step_views(journey: Journey) -> list[StepView]:
    """Each step, with what it calls: the URL template as written (secrets stay unrendered)."""
    out = []
    for number, step in enumerate(journey.steps, 1):
        if step.http is not None:
            calls = [f"{step.http.method} {redact_url(step.http.url)}"]
        elif step.browser is not None:
            calls = [action_text(a) for a in step.browser]
        else:
            calls = [f"the function {step.script}"]
        out.append(StepView(number, step.name, step.kind, calls, list(step.expect)))
    return out


def artifact_link(path: str, root: str | None) -> Artifact:
    """A link under /artifacts/ for a file inside the artifacts folder; no link for anything else."""
    name = PurePath(path).name
    suffix = PurePath(path).suffix.lower()
    kind = "screenshot" if suffix in (".png", ".jpg", ".jpeg") else "trace" if suffix == ".zip" else "file"
    if root is None:
        return Artifact(name, kind, None)
    base = os.path.abspath(root)
    full = os.path.abspath(os.path.join(base, path))
    if full == base or os.path.commonpath([base, full]) != base:
        return Artifact(name, kind, None)
    rel = PurePath(os.path.relpath(full, base)).as_posix()
    return Artifact(name, kind, "/artifacts/" + quote(rel))


def failure_view(result: Mapping[str, Any], now: float, artifacts_root: str | None) -> FailureView:
    step = failing_step(result) or {}
    files = [p for s in result.get("steps", ()) for p in s.get("artifacts", ())]
    ts = started_ts(result)
    return FailureView(
        when=time_text(ts), ago=ago_text(ts, now), outcome=str(result.get("outcome")),
        step=str(step.get("name") or ""), error=shorten(step.get("error"), 600),
        error_type=str(result.get("error_type") or step.get("error_type") or ""),
        trace_id=str(result.get("trace_id") or ""),
        duration=duration_text(float(result.get("duration_s", 0))),
        artifacts=[artifact_link(str(p), artifacts_root) for p in files],
        counted=not result.get("agent_side", False))


def bucket_seconds(window_s: float, interval_s: float | None) -> float:
    """CHART_BUCKETS buckets over the window, but none shorter than the journey's interval."""
    return max(window_s / CHART_BUCKETS, interval_s or 0.0)


async def duration_points(store: Store, name: str, now: float, window_s: float,
                          bucket_s: float) -> list[tuple[float, int, float, float, int]]:
    """(bucket start, runs, mean, max, not passed) per bucket of `bucket_s` over the window."""
    start = now - window_s
    rows = await store.duration_buckets(name, start, now, bucket_s)
    return [(start + b * bucket_s, n, avg, top, bad) for b, n, avg, top, bad in rows]


async def build_journey_page(store: Store | None, name: str, journey: Journey | None,
                             journeys: Mapping[str, Journey], entries: Sequence[dict[str, Any]],
                             now: float, *, artifacts_root: str | None,
                             chart_window_s: float = DAY) -> JourneyPage:
    """The page of one journey (`/journeys/{name}`)."""
    row = await journey_row(store, name, journey, now)
    failures: list[FailureView] = []
    chart = None
    if store is not None:
        failures = [failure_view(r, now, artifacts_root) for r in await store.failed_runs(name, FAILURES,
                                                                                          until=now)]
        bucket_s = bucket_seconds(chart_window_s, journey.interval if journey else None)
        points = await duration_points(store, name, now, chart_window_s, bucket_s)
        if points:
            chart = charts.duration_charts(points, now - chart_window_s, now, bucket_s)
    cards = [await slo_card(store, dict(e), journeys, now, row.has_runs) for e in entries
             if e["journey"] == name]
    return JourneyPage(row=row, journey=journey,
                       interval=f"every {window_text(journey.interval)}" if journey else "",
                       labels=dict(journey.labels) if journey else {},
                       steps=step_views(journey) if journey else [], failures=failures, chart=chart,
                       chart_label=f"the last {window_text(chart_window_s)}", cards=cards)
