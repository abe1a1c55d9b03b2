"""Sentences a person understands: SLO names, windows, percentages, alert summaries."""

from __future__ import annotations

from agent.core.durations import format_duration
from agent.journey.model import LatencyIndicator, Slo

_WINDOW_PHRASES = {"5m": "the last 5 minutes", "30m": "the last 30 minutes", "1h": "the last hour",
                   "2h": "the last 2 hours", "6h": "the last 6 hours", "1d": "the last day",
                   "3d": "the last 3 days"}


def display_name(name: str) -> str:
    """checkout-success -> Checkout success."""
    words = name.replace("-", " ").replace("_", " ").replace(".", " ").split()
    text = " ".join(words) or name
    return text[:1].upper() + text[1:]


def seconds_text(seconds: float) -> str:
    """A latency or bucket boundary, exactly: 250ms, 2.5s, 60s."""
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def window_phrase(window: str) -> str:
    """1h -> the last hour."""
    return _WINDOW_PHRASES.get(window, f"the last {window}")


def window_adjective(seconds: float) -> str:
    """2419200 -> 28-day; 7200 -> 2-hour."""
    if seconds % 86400 == 0:
        return f"{int(seconds // 86400)}-day"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}-hour"
    return f"{format_duration(seconds)}"


def percent(ratio: float | None) -> str:
    """A ratio as a short percentage: 0.0223 -> 2.2%, 0.149 -> 15%, None -> n/a."""
    if ratio is None:
        return "n/a"
    value = ratio * 100
    if abs(value) >= 10:
        text = f"{value:.0f}"
    elif abs(value) >= 1:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2g}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def objective_text(objective: float) -> str:
    """0.995 -> 99.5%; 0.9995 -> 99.95%."""
    text = f"{objective * 100:.4f}".rstrip("0").rstrip(".")
    return f"{text}%"


def rate_text(burn: float | None) -> str:
    if burn is None:
        return "n/a"
    return f"{burn:.1f}x" if burn < 100 else f"{burn:.0f}x"


def indicator_text(slo: Slo) -> str:
    """What a good event is, in words."""
    if isinstance(slo.indicator, LatencyIndicator):
        return f"runs that pass within {seconds_text(slo.indicator.latency)}"
    return "runs that pass"


def indicator_json(slo: Slo) -> str | dict[str, float]:
    """The indicator as the journey file writes it: "success" or {"latency": seconds}."""
    if isinstance(slo.indicator, LatencyIndicator):
        return {"latency": slo.indicator.latency}
    return "success"


def span_text(seconds: float) -> str:
    """A span of data in the unit a person thinks in, rounded down (never more data than there is):
    1 minute, 4 minutes, 5 hours, 27 days."""
    minutes = max(1, int(seconds // 60))
    if minutes < 120:
        value, unit = minutes, "minute"
    elif minutes < 48 * 60:
        value, unit = minutes // 60, "hour"
    else:
        value, unit = minutes // 1440, "day"
    return f"{value} {unit}" + ("s" if value != 1 else "")


def data_phrase(data_s: float, window_s: float, window: str | None = None) -> str:
    """Where numbers come from: `the last hour` (the window is full of data) or `the 4 minutes of data
    so far` (the agent has less data than the window)."""
    if 0 < data_s < window_s:
        return f"the {span_text(data_s)} of data so far"
    return window_phrase(window) if window else f"the last {format_duration(window_s)}"


def overspent_text(remaining: float) -> str:
    """A budget used more than once: -81.9 -> spent, 82x over (rather than -8190%)."""
    if remaining >= 0:
        return "spent"
    over = -remaining
    return f"spent, {over:.0f}x over" if over >= 10 else f"spent, {over:.1f}x over"


def budget_left_text(remaining: float | None) -> str:
    """63% left / spent, 82x over / n/a."""
    if remaining is None:
        return "n/a"
    return f"{percent(remaining)} left" if remaining > 0 else overspent_text(remaining)


def too_few_text(events: int, so_far: bool, needed: int, severity: str, long_window: str) -> str:
    """3 runs so far: too few to judge (paging needs 15 in the last hour)."""
    runs = f"{events} run{'s' if events != 1 else ''}"
    where = "so far" if so_far else f"in {window_phrase(long_window)}"
    what = "paging" if severity == "page" else "a ticket"
    return f"{runs} {where}: too few to judge ({what} needs {needed} in {window_phrase(long_window)})"


def quorum_text(min_failing: int, location: str = "") -> str:
    """Why one agent does not judge an SLO that needs several failing locations."""
    seen = f" (this agent sees {location} only)" if location else " (one agent sees one location)"
    return (f"alerts only when at least {min_failing} locations fail together: judged across the fleet "
            f"by the Prometheus rules{seen}")


def firing_summary(slo: Slo, burn: float, long_window: str, long_s: float, data_s: float | None = None) -> str:
    """Checkout success is burning its error budget 14.9x faster than sustainable: ...

    With less data than the long window (`data_s`), the budget gone is what that data burnt."""
    span = min(long_s, data_s) if data_s else long_s
    consumed = burn * span / slo.window
    return (f"{display_name(slo.name)} is burning its error budget {rate_text(burn)} faster than "
            f"sustainable: {percent(consumed)} of the {window_adjective(slo.window)} budget gone in "
            f"{data_phrase(span, long_s, long_window)}")


def resolved_summary(slo: Slo, burn: float | None, long_window: str | None,
                     budget_remaining: float | None) -> str:
    tail = f"; {window_adjective(slo.window)} budget {budget_left_text(budget_remaining)}" \
        if budget_remaining is not None else ""
    now = f" ({long_window} burn rate {rate_text(burn)})" if long_window and burn is not None else ""
    return f"{display_name(slo.name)} is no longer burning its error budget fast{now}{tail}"


def slo_description(slo: Slo, journey: str) -> str:
    text = (f"SLO {slo.name} of journey {journey}: {objective_text(slo.objective)} of "
            f"{indicator_text(slo)} over a rolling {format_duration(slo.window)}; owner {slo.owner}.")
    if slo.description:
        text += f" {slo.description}"
    return text
