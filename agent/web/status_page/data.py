"""What the overview shows, read from the store and the `/api/v1/slos` list: rows, cards, headline.

Every builder takes `now`, so the report is the same for the same store and the same `now`.
Windows end at the minute of `now` (included), as the SLO engine counts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from agent.core.durations import parse_duration
from agent.journey.model import Journey, Slo
from agent.slo.math import error_budget_remaining, sli
from agent.slo.windows import minute_of, minutes_of
from agent.slo.wording import display_name, objective_text, span_text
from agent.web.status_page import charts
from agent.web.status_page.text import (
    ago_text,
    budget_text,
    burn_text,
    decimals_for,
    duration_text,
    period_phrase,
    short_window,
    shorten,
    slo_sentences,
    time_text,
    truncated_percent,
    window_text,
)

if TYPE_CHECKING:
    from agent.store.sqlite import Store

DAY = 86400.0
SUCCESS_WINDOWS = (DAY, 7 * DAY, 28 * DAY)
STRIP_RUNS = 30
BUDGET_POINTS = 112  # 6-hour steps over 28 days
OUTCOME_CSS = {"success": "ok", "failure": "fail", "timeout": "timeout", "error": "error"}


@dataclass(frozen=True, slots=True)
class Cell:
    """One run in the strip of recent runs."""

    css: str
    title: str


@dataclass(frozen=True, slots=True)
class Success:
    """A journey's share of passed runs over one window (agent-side runs left out)."""

    label: str
    seconds: float
    good: int
    total: int
    ratio: float | None
    text: str


@dataclass(slots=True)
class JourneyRow:
    name: str
    title: str
    description: str
    has_runs: bool = False
    last_css: str = "none"
    last_text: str = "No runs yet"
    last_when: str = ""
    last_detail: str = ""
    success: list[Success] = field(default_factory=list)
    pct_label: str = ""
    pct_runs: int = 0
    p50: float | None = None
    p95: float | None = None
    cells: list[Cell] = field(default_factory=list)

    @property
    def last_line(self) -> str:
        """Passed 3 min ago, in 412 ms / Failed at step pay, 3 min ago: expected ..."""
        if not self.has_runs:
            return self.last_text
        if self.last_css == "ok":
            return f"{self.last_text} {self.last_when}, {self.last_detail}"
        return f"{self.last_text}, {self.last_when}" + (f": {self.last_detail}" if self.last_detail else "")

    @property
    def p50_text(self) -> str:
        return duration_text(self.p50)

    @property
    def p95_text(self) -> str:
        return duration_text(self.p95)


@dataclass(slots=True)
class SloCard:
    name: str
    journey: str
    title: str
    owner: str
    entry: dict[str, Any]
    objective_text: str
    window_text: str
    period_text: str  # "28 days", or "4 minutes so far" while there is less data than the window
    chart_caption: str
    sli_text: str
    budget_text: str
    burn_1h: str
    burn_1d: str
    sentences: list[str]
    alert_css: str
    alert_text: str
    alert_detail: str
    bar: Markup
    chart: Markup | None


@dataclass(slots=True)
class Overview:
    now: float
    updated: str
    location: str
    rows: list[JourneyRow]
    cards: list[SloCard]
    headline: str
    headline_css: str
    success_labels: list[str]
    pct_label: str
    store_open: bool = True


def failing_step(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first step that neither passed nor was skipped."""
    return next((s for s in result.get("steps", ()) if s.get("outcome") not in ("success", "skipped")), None)


def started_ts(result: Mapping[str, Any]) -> float:
    from agent.probe.result import parse_timestamp

    return parse_timestamp(str(result["started_at"])).timestamp()


def result_summary(result: Mapping[str, Any]) -> tuple[str, str, str]:
    """(css class, what happened, detail) of one run, in words."""
    outcome = str(result.get("outcome"))
    step = failing_step(result)
    where = f" at step {step['name']}" if step else ""
    error = shorten(step.get("error") if step else None, 200)
    if result.get("agent_side"):
        return "agent", "Not counted: the probe itself failed", error
    if outcome == "success":
        return "ok", "Passed", f"in {duration_text(float(result.get('duration_s', 0.0)))}"
    verb = {"failure": "Failed", "timeout": "Timed out", "error": "Could not run"}.get(outcome, outcome)
    return OUTCOME_CSS.get(outcome, "fail"), f"{verb}{where}", error


def run_cell(result: Mapping[str, Any]) -> Cell:
    css, what, detail = result_summary(result)
    when = time_text(started_ts(result))
    if css == "ok":
        return Cell(css, f"{when} · passed {detail}")
    return Cell(css, f"{when} · {what}: {shorten(detail, 160)}" if detail else f"{when} · {what}")


def minute_range(seconds: float, now: float) -> tuple[int, int]:
    """(since_minute, until_minute) of the window of `seconds` ending with the minute of `now`."""
    head = minute_of(now)
    return head - minutes_of(seconds) + 1, head + 1


async def journey_row(store: Store | None, name: str, journey: Journey | None, now: float, *,
                      pct_window_s: float = DAY, windows: Sequence[float] = SUCCESS_WINDOWS) -> JourneyRow:
    """A journey's line of the overview: last result, success per window, p50/p95, recent runs."""
    description = journey.description if journey else ""
    row = JourneyRow(name, description or display_name(name), description,
                     pct_label=short_window(pct_window_s))
    if store is None:
        row.success = [Success(short_window(w), w, 0, 0, None, "–") for w in windows]
        return row
    recent = await store.runs_between(name, float("-inf"), now, STRIP_RUNS)
    row.has_runs = bool(recent)
    row.cells = [run_cell(r) for r in reversed(recent)]
    if recent:
        row.last_css, row.last_text, row.last_detail = result_summary(recent[0])
        row.last_when = ago_text(started_ts(recent[0]), now)
    for seconds in windows:
        good, total, _ = await store.count_totals("", name, *minute_range(seconds, now))
        ratio = sli(good, total)
        row.success.append(Success(short_window(seconds), seconds, good, total, ratio,
                                   truncated_percent(ratio, 2)))
    row.pct_runs, (row.p50, row.p95) = await store.duration_quantiles(name, now - pct_window_s, now)
    return row


def find_slo(journey: Journey | None, name: str) -> Slo | None:
    return next((s for s in journey.slos if s.name == name), None) if journey else None


def entry_window_s(entry: Mapping[str, Any], slo: Slo | None) -> float:
    if entry.get("window_s"):
        return float(entry["window_s"])
    return slo.window if slo else parse_duration(entry["window"])


async def budget_points(store: Store, journey: str, slo: str, objective: float, window_s: float,
                        now: float, data_since: float | None = None) -> list[tuple[float, float]]:
    """The error budget left as the window went by: 100% at its start, today's value at `now`.

    The chart starts where the data starts (`data_since`, when later than the window's start),
    not 28 days of green before the agent ran. Failures so far in the window against the budget
    the whole window's runs allow.
    """
    since, until = minute_range(window_s, now)
    if data_since is not None:
        since = min(until - 1, max(since, minute_of(data_since)))
    size = max(1, -(-(until - since) // BUDGET_POINTS))
    rows = await store.count_buckets(slo, journey, since, until, size)
    total = sum(r[2] for r in rows)
    if total == 0:
        return []
    bad_by_bucket = {b: t - g for b, g, t, _ in rows}
    points, bad = [(since * 60.0, 1.0)], 0
    for b in range(-(-(until - since) // size)):
        bad += bad_by_bucket.get(b, 0)
        remaining = error_budget_remaining(1.0 - bad / total, objective)
        assert remaining is not None
        points.append((min((since + (b + 1) * size) * 60.0, now), remaining))
    return points


def alert_state(alerts: Sequence[Mapping[str, Any]], judgement: str | None = None,
                quorum: int = 1) -> tuple[str, str, str]:
    """(css, label, detail) of an SLO's alerts, or of why the agent does not judge it."""
    firing = {a.get("severity"): a for a in alerts if a.get("state", "firing") == "firing"}
    for severity, css, label in (("page", "bad", "Paging"), ("ticket", "warn", "Ticket open")):
        if severity in firing:
            alert = firing[severity]
            since = f"since {time_text(float(alert['since']))}" if alert.get("since") else ""
            summary = str(alert.get("summary") or "")
            return css, label, "; ".join(p for p in (since, summary) if p)
    if judgement:
        return "none", "Judged by the fleet" if quorum > 1 else "Too few runs to judge", judgement
    return "good", "No alert", ""


async def slo_card(store: Store | None, entry: dict[str, Any], journeys: Mapping[str, Journey], now: float,
                   has_runs: bool) -> SloCard:
    """One SLO, its numbers exactly as `/api/v1/slos` has them."""
    journey = journeys.get(entry["journey"])
    slo = find_slo(journey, entry["name"])
    window_s = entry_window_s(entry, slo)
    objective = float(entry["objective"])
    description = str(entry.get("description") or (slo.description if slo else ""))
    remaining = entry.get("error_budget_remaining")
    burns = entry.get("burn_rates") or {}
    css, label, detail = alert_state(entry.get("alerts") or [], entry.get("judgement"),
                                     int(entry.get("min_failing_locations") or 1))
    chart = None
    data_s = float(entry.get("data_s") or 0.0)
    young = 0 < data_s < window_s
    if store is not None:
        points = await budget_points(store, entry["journey"], entry["name"], objective, window_s, now,
                                     entry.get("data_since"))
        if points:
            chart = charts.budget_chart(points, points[0][0], now)
    period = period_phrase(window_s, data_s)
    return SloCard(
        name=entry["name"], journey=entry["journey"], title=description or display_name(entry["name"]),
        owner=str(entry.get("owner") or ""), entry=entry,
        objective_text=objective_text(objective),
        window_text=window_text(window_s),
        period_text=f"{span_text(data_s)} so far" if young else window_text(window_s),
        chart_caption=f"Error budget left over {period}" if young
        else f"Error budget left over the {window_text(window_s)} window",
        sli_text=truncated_percent(entry.get("sli"), decimals_for(objective)),
        budget_text=budget_text(remaining), burn_1h=burn_text(burns.get("1h")),
        burn_1d=burn_text(burns.get("1d")), sentences=slo_sentences(entry, window_s, has_runs),
        alert_css=css, alert_text=label, alert_detail=detail, bar=charts.budget_bar(remaining), chart=chart)


def headline(rows: Sequence[JourneyRow], cards: Sequence[SloCard]) -> tuple[str, str]:
    """One line on top: how many journeys fail now, how many SLO alerts fire."""
    failing = sum(1 for r in rows if r.has_runs and r.last_css not in ("ok", "agent"))
    firing = sum(1 for c in cards if c.alert_css in ("warn", "bad"))
    if not rows:
        return "No journeys are configured.", "none"
    n, idle = len(rows), sum(1 for r in rows if not r.has_runs)
    if failing:
        state = f"{failing} of {n} journeys failing" if n > 1 else "The journey is failing"
    elif idle:
        state = f"No journey failing ({idle} without runs yet)"
    else:
        state = f"All {n} journeys passing" if n > 1 else "The journey is passing"
    parts = [state, f"{firing} SLO alert{'s' if firing != 1 else ''} firing" if firing else "no SLO alerts"]
    paging = any(c.alert_css == "bad" for c in cards)
    return " · ".join(parts), "bad" if failing or paging else "warn" if firing else "good"


async def build_overview(store: Store | None, journeys: Mapping[str, Journey],
                         entries: Sequence[dict[str, Any]], now: float, *, location: str = "",
                         pct_window_s: float = DAY,
                         windows: Sequence[float] = SUCCESS_WINDOWS) -> Overview:
    """The overview: every journey, then every SLO."""
    rows = [await journey_row(store, name, journeys[name], now, pct_window_s=pct_window_s, windows=windows)
            for name in sorted(journeys)]
    has_runs = {r.name: r.has_runs for r in rows}
    cards = [await slo_card(store, dict(e), journeys, now, has_runs.get(e["journey"], False))
             for e in entries]
    text, css = headline(rows, cards)
    return Overview(now, time_text(now), location, rows, cards, text, css,
                    [short_window(w) for w in windows], short_window(pct_window_s), store is not None)


async def slo_entries_from_store(store: Store, journeys: Sequence[Journey], now: float,
                                 location: str = "") -> list[dict[str, Any]]:
    """The `/api/v1/slos` list computed from the store alone (the report; a daemon without the engine)."""
    from agent.slo.alerts import AlertBook
    from agent.slo.engine import load_reports
    from agent.slo.status import slo_list

    reports = await load_reports(store, journeys, now)
    book = AlertBook(store, location=location)
    await book.load()
    return slo_list(reports, book.active, location)
