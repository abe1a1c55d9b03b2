"""Words and numbers a product owner reads: percentages, durations, times, sentences, escaping."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from agent.core.durations import format_duration
from agent.slo.wording import objective_text, overspent_text, span_text

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_LINE_START = re.compile(r"^([-+=#])|^(\d+)([.)])(?=\s)")
_SECRET_PARAM = re.compile(
    r"([?&][^=&#]*(?:token|key|secret|passw|pwd|auth|sig|session|code|credential)[^=&#]*=)(?!\{\{)([^&#]*)",
    re.IGNORECASE)
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def escape_html(value: object) -> Markup:
    """Text made safe for HTML (and inline SVG): `<script>` shows as the characters it is."""
    return escape(value)


class MdSafe(str):
    """Markdown that is already escaped or built on purpose (tables, emphasis)."""


def md_escape(value: object) -> str:
    """Text made safe for Markdown: no raw HTML, no table breaks, no accidental emphasis or links."""
    if isinstance(value, MdSafe):
        return value
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # newlines would end a table row
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)


def truncated_percent(ratio: float | None, decimals: int = 1) -> str:
    """A ratio as a percentage cut (not rounded) to `decimals`: 0.99895 -> 99.89%, so it never
    looks better than it is; exactly 1 -> 100%; None -> "–"."""
    if ratio is None:
        return "–"
    if ratio >= 1:
        return "100%"
    scale = 10 ** decimals
    value = math.floor(ratio * 100 * scale + 1e-7) / scale
    return f"{value:.{decimals}f}%"


def decimals_for(objective: float) -> int:
    """Enough decimals to compare an SLI with its objective (at least 2): 99.5% -> 2, 99.95% -> 3."""
    text = f"{objective * 100:.4f}".rstrip("0").rstrip(".")
    return min(4, max(2, (len(text.split(".")[1]) if "." in text else 0) + 1))


def budget_percent(remaining: float | None) -> str:
    """Error budget left, rounded down (never better than it is) to whole percent, to one decimal
    under 10%: 0.6 -> 60%, 0.055 -> 5.5%, -0.4 -> −40% (with a minus sign)."""
    if remaining is None:
        return "–"
    value = remaining * 100
    if abs(value) < 10:
        shown = math.floor(value * 10 + 1e-7) / 10
        text = f"{abs(shown):.1f}".rstrip("0").rstrip(".")
    else:
        shown = math.floor(value + 1e-7)
        text = f"{abs(shown):.0f}"
    return ("−" if shown < 0 else "") + text + "%"


def budget_text(remaining: float | None) -> str:
    """The budget left as a reader takes it: 60%, 5.5%, or `spent, 82x over` once it is overspent
    (a budget used 83 times over is not "−8234%")."""
    if remaining is not None and remaining < 0:
        return overspent_text(remaining)
    return budget_percent(remaining)


def period_phrase(window_s: float, data_s: float | None) -> str:
    """`the last 28 days`, or `the 4 minutes of data so far` while the agent has less data than that."""
    if data_s and 0 < data_s < window_s:
        return f"the {span_text(data_s)} of data so far"
    return f"the last {window_text(window_s)}"


def burn_text(burn: float | None) -> str:
    """1.87 -> 1.9×; None -> –."""
    if burn is None:
        return "–"
    return f"{burn:.1f}×" if burn < 100 else f"{burn:.0f}×"


def duration_text(seconds: float | None) -> str:
    """412 ms, 1.24 s, 12.5 s, 1 min 5 s."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        text = f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
        return text.rstrip("0").rstrip(".") + " s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def window_text(seconds: float) -> str:
    """86400 -> 24 hours; 2419200 -> 28 days; 3600 -> 1 hour; 30 -> 30 seconds."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0 and not (unit == "day" and seconds < 2 * 86400):
            count = int(seconds // size)
            return f"{count} {unit}" + ("s" if count != 1 else "")
    return format_duration(seconds)


def short_window(seconds: float) -> str:
    """86400 -> 24 h; 604800 -> 7 d."""
    if seconds >= 2 * 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)} d"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    return format_duration(seconds)


def time_text(ts: float) -> str:
    """2026-11-29 09:30 UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def date_text(ts: float) -> str:
    """29 Nov."""
    moment = datetime.fromtimestamp(ts, UTC)
    return f"{moment.day} {moment.strftime('%b')}"


def period_text(start: float, end: float) -> str:
    """1 Nov – 29 Nov 2026 (the year once, or both when they differ)."""
    first, last = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    head = date_text(start) + (f" {first.year}" if first.year != last.year else "")
    return f"{head} – {date_text(end)} {last.year}"


def clock_text(ts: float) -> str:
    """09:30."""
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def ago_text(ts: float, now: float) -> str:
    """just now, 3 min ago, 2 h ago, 5 days ago."""
    age = max(0.0, now - ts)
    if age < 60:
        return "just now"
    if age < 3600:
        return f"{int(age // 60)} min ago"
    if age < 2 * 86400:
        return f"{int(age // 3600)} h ago"
    return f"{int(age // 86400)} days ago"


def time_left_text(seconds: float) -> str:
    """How long something lasts, in the unit a person thinks in: 9 more days, 5 more hours."""
    if seconds >= 2 * 86400:
        return f"{int(seconds // 86400)} more days"
    if seconds >= 2 * 3600:
        return f"{int(seconds // 3600)} more hours"
    return "less than two hours"


def budget_time_left(remaining: float, burn: float, window_s: float) -> float:
    """Seconds until the budget left is gone at burn rate `burn` (burn 1 spends a whole budget per window)."""
    return remaining * window_s / burn


def pace_text(remaining: float, burn: float | None, window_s: float) -> str:
    """The second half of the budget sentence, from the last day's burn rate."""
    if burn is None:
        return "no runs in the last day to tell the pace"
    if burn <= 0:
        return "nothing of it was spent in the last day"
    if burn <= 1:
        return "at this rate it will not run out"
    return f"at this rate it lasts {time_left_text(budget_time_left(remaining, burn, window_s))}"


def indicator_verb(indicator: Any) -> str:
    """succeeded / passed within 2s."""
    if isinstance(indicator, dict) and "latency" in indicator:
        return f"passed within {duration_text(float(indicator['latency']))}"
    return "succeeded"


def slo_sentences(entry: dict[str, Any], window_s: float, has_runs: bool) -> list[str]:
    """The plain sentences of an SLO card, from its `/api/v1/slos` entry."""
    journey = entry["journey"]
    objective = float(entry["objective"])
    sli = entry.get("sli")
    remaining = entry.get("error_budget_remaining")
    period = period_phrase(window_s, entry.get("data_s"))
    if entry.get("loading"):
        return ["Reading this SLO's history from the store…"]
    if sli is None:
        return ["No runs yet." if not has_runs else f"No runs in {period}."]
    share = truncated_percent(sli, decimals_for(objective))
    target = objective_text(objective)
    what = f"{share} of {journey} runs {indicator_verb(entry.get('indicator'))} in {period}"
    quorum = int(entry.get("min_failing_locations") or 1)
    tail = [f"It alerts only when at least {quorum} locations fail together, which the fleet's Prometheus "
            f"rules judge; the figures here are this agent's location alone."] if quorum > 1 else []
    if remaining is None or remaining <= 0:
        used = 1 - (remaining or 0.0)
        used_text = f"{used:.0f} times" if used >= 10 else f"{round(used * 100)}% of"
        spent = overspent_text(remaining) if remaining is not None and remaining < 0 else "spent"
        return [f"The error budget is {spent}: {what}, below the objective of {target}.",
                f"Failures used {used_text} the budget the objective allows.", *tail]
    burn = (entry.get("burn_rates") or {}).get("1d")
    return [f"{what}; {budget_percent(remaining)} of the error budget is left; "
            f"{pace_text(remaining, burn, window_s)}.",
            f"The objective is {target}.", *tail]


def redact_url(url: str) -> str:
    """A URL template as shown: user:password@ and literal values of secret-looking parameters hidden."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", url))


def shorten(text: str | None, limit: int = 300) -> str:
    """One line, at most `limit` characters."""
    folded = " ".join((text or "").split())
    return folded if len(folded) <= limit else folded[:limit - 1] + "…"
