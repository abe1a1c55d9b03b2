"""Inline SVG drawn on the server: the error-budget bar, the budget chart and the duration chart.

Every number is formatted with fixed precision (the report is compared byte for byte) and
every piece of text goes through `escape_html`. Colours come from classes the stylesheet
sets, with presentation attributes as the fallback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup

from agent.web.status_page.text import budget_percent, budget_text, clock_text, date_text, duration_text, escape_html

LEFT, RIGHT, TOP, BOTTOM = 64, 8, 8, 22
BUDGET_SIZE = (340, 140)  # about the width of an SLO card, so the labels keep their size
DURATION_SIZE = (900, 220)
DURATION_SIZE_NARROW = (360, 180)  # the same chart for a phone, where 900 units would shrink the text
_COLOURS = {"good": "#15803d", "warn": "#b45309", "bad": "#b91c1c", "none": "#9ca3af"}


def budget_level(remaining: float | None) -> str:
    """good (half or more left), warn (more than a fifth), bad, or none (no data)."""
    if remaining is None:
        return "none"
    return "good" if remaining >= 0.5 else "warn" if remaining > 0.2 else "bad"


def _n(value: float) -> str:
    return f"{value:.1f}"


def budget_bar(remaining: float | None) -> Markup:
    """A bar as wide as the error budget left (empty and red when it is spent)."""
    level = budget_level(remaining)
    label = "no data yet" if remaining is None else f"{budget_percent(remaining)} of the error budget left" \
        if remaining >= 0 else f"error budget {budget_text(remaining)}"
    width = 0.0 if remaining is None else max(0.0, min(1.0, remaining)) * 200
    track = "track spent" if remaining is not None and remaining <= 0 else "track"
    return Markup(
        f'<svg class="budget-bar" viewBox="0 0 200 12" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape_html(label)}"><title>{escape_html(label)}</title>'
        f'<rect class="{track}" width="200" height="12" rx="3" fill="#e5e7eb"/>'
        f'<rect class="fill {level}" width="{_n(width)}" height="12" rx="3" fill="{_COLOURS[level]}"/></svg>')


def _frame(label: str, css: str, size: tuple[int, int]) -> list[str]:
    return [f'<svg class="chart {css}" viewBox="0 0 {size[0]} {size[1]}" role="img" '
            f'aria-label="{escape_html(label)}"><title>{escape_html(label)}</title>']


def moment_text(ts: float, span: float) -> str:
    """A chart's time label: 09:42 within a day, 28 Nov 09:42 within two, 28 Nov beyond."""
    if span < 86400:
        return clock_text(ts)
    return f"{date_text(ts)} {clock_text(ts)}" if span <= 2 * 86400 else date_text(ts)


def _x_labels(parts: list[str], start: float, end: float, size: tuple[int, int]) -> None:
    def fmt(ts: float) -> str:
        return moment_text(ts, end - start)

    y = size[1] - 6
    parts.append(f'<text class="axis" x="{LEFT}" y="{y}" text-anchor="start">'
                 f'{escape_html(fmt(start))}</text>')
    parts.append(f'<text class="axis" x="{size[0] - RIGHT}" y="{y}" text-anchor="end">'
                 f'{escape_html(fmt(end))}</text>')


def _grid(parts: list[str], width: int, y: float, text: str, css: str = "grid") -> None:
    parts.append(f'<line class="{css}" x1="{LEFT}" x2="{width - RIGHT}" y1="{_n(y)}" y2="{_n(y)}" '
                 f'stroke="#d1d5db"/>')
    parts.append(f'<text class="axis" x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end">'
                 f'{escape_html(text)}</text>')


def budget_chart(points: Sequence[tuple[float, float]], start: float, end: float) -> Markup:
    """The error budget left over the SLO window: (time, remaining) points from 100% at the start."""
    last = points[-1][1] if points else None
    label = f"Error budget left from {date_text(start)} to {date_text(end)}" + (
        f": {budget_text(last)} now" if last is not None else "")
    size = BUDGET_SIZE
    parts = _frame(label, "budget-chart", size)
    lowest = min((v for _, v in points), default=0.0)
    lo = math.floor(max(-1.0, min(0.0, lowest)) * 4) / 4  # quarters, so the bottom gridline reads well
    pw, ph = size[0] - LEFT - RIGHT, size[1] - TOP - BOTTOM
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return LEFT + (min(max(t, start), end) - start) / span * pw

    def y(v: float) -> float:
        return TOP + (1.0 - min(max(v, lo), 1.0)) / (1.0 - lo) * ph

    for value in sorted({1.0, 0.5, 0.0, lo}, reverse=True):
        text = ("≤ " if value == lo and lowest < lo else "") + budget_percent(value)
        _grid(parts, size[0], y(value), text, "grid zero" if value == 0 else "grid")
    if points:
        xy = " ".join(f"{_n(x(t))},{_n(y(v))}" for t, v in points)
        level = budget_level(last)
        parts.append(f'<path class="area {level}" d="M{_n(x(points[0][0]))},{_n(y(0))} L{xy} '
                     f'L{_n(x(points[-1][0]))},{_n(y(0))} Z" fill="{_COLOURS[level]}" fill-opacity="0.15"/>')
        parts.append(f'<polyline class="line {level}" points="{xy}" fill="none" '
                     f'stroke="{_COLOURS[level]}" stroke-width="2"/>')
    _x_labels(parts, start, end, size)
    parts.append("</svg>")
    return Markup("".join(parts))


def nice_ceiling(value: float) -> float:
    """The next of 1, 2, 5 x 10^k at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value - 1e-12:
            return float(step * power)
    return float(10 * power)


def duration_chart(buckets: Sequence[tuple[float, int, float, float, int]], start: float, end: float,
                   bucket_s: float, size: tuple[int, int] = DURATION_SIZE) -> Markup:
    """Mean (line) and slowest (dashed) run per bucket, red marks where runs failed.

    `buckets`: (bucket start time, runs, mean s, max s, runs not passed).
    """
    label = f"Run duration from {moment_text(start, end - start)} to {moment_text(end, end - start)}"
    parts = _frame(label, "duration-chart " + ("narrow" if size[0] < 600 else "wide"), size)
    top = nice_ceiling(max((b[3] for b in buckets), default=1.0))
    pw, ph = size[0] - LEFT - RIGHT, size[1] - TOP - BOTTOM
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return LEFT + (min(max(t, start), end) - start) / span * pw

    def y(v: float) -> float:
        return TOP + (1.0 - min(max(v / top, 0.0), 1.0)) * ph

    for value in (top, top / 2, 0.0):
        _grid(parts, size[0], y(value), duration_text(value) if value else "0")
    for index, css, colour, dash in ((3, "slowest", "#94a3b8", ' stroke-dasharray="4 3"'),
                                     (2, "mean", "#1d4ed8", "")):
        segments: list[list[str]] = []
        prev = None
        for b in buckets:  # a line breaks where more than two buckets in a row had no runs
            if prev is None or b[0] - prev > bucket_s * 3.5:
                segments.append([])
            segments[-1].append(f"{_n(x(b[0] + bucket_s / 2))},{_n(y(b[index]))}")
            prev = b[0]
        if segments:
            d = " ".join("M" + " L".join(seg) for seg in segments)
            parts.append(f'<path class="{css}" d="{d}" fill="none" stroke="{colour}" '
                         f'stroke-width="{1.5 if index == 3 else 2}"{dash}/>')
        if index == 2:  # a lone bucket has no line to show it: a dot
            for seg in (s for s in segments if len(s) == 1):
                cx, cy = seg[0].split(",")
                parts.append(f'<circle class="mean" cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
    mark_w = max(2.0, bucket_s / span * pw)
    for b in buckets:
        if b[4]:
            note = f"{b[4]} of {b[1]} runs did not pass, {clock_text(b[0])}–{clock_text(b[0] + bucket_s)}"
            parts.append(f'<rect class="failed-mark" x="{_n(x(b[0]))}" y="{TOP + ph - 4}" '
                         f'width="{_n(mark_w)}" height="4" fill="#b91c1c">'
                         f'<title>{escape_html(note)}</title></rect>')
    _x_labels(parts, start, end, size)
    parts.append("</svg>")
    return Markup("".join(parts))


def duration_charts(buckets: Sequence[tuple[float, int, float, float, int]], start: float, end: float,
                    bucket_s: float) -> Markup:
    """The duration chart twice, wide and narrow; the stylesheet shows the one that fits the screen."""
    return (duration_chart(buckets, start, end, bucket_s)
            + duration_chart(buckets, start, end, bucket_s, DURATION_SIZE_NARROW))
