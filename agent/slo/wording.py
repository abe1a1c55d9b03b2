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


def firing_summary(slo: Slo, burn: float, long_window: str, long_s: float) -> str:
    """Checkout success is burning its error budget 14.9x faster than sustainable: ..."""
    consumed = burn * long_s / slo.window
    return (f"{display_name(slo.name)} is burning its error budget {rate_text(burn)} faster than "
            f"sustainable: {percent(consumed)} of the {window_adjective(slo.window)} budget gone in "
            f"{window_phrase(long_window)}")


def resolved_summary(slo: Slo, burn: float | None, long_window: str | None,
                     budget_remaining: float | None) -> str:
    tail = f"; {percent(budget_remaining)} of the {window_adjective(slo.window)} budget left" \
        if budget_remaining is not None else ""
    now = f" ({long_window} burn rate {rate_text(burn)})" if long_window and burn is not None else ""
    return f"{display_name(slo.name)} is no longer burning its error budget fast{now}{tail}"


def slo_description(slo: Slo, journey: str) -> str:
    text = (f"SLO {slo.name} of journey {journey}: {objective_text(slo.objective)} of "
            f"{indicator_text(slo)} over a rolling {format_duration(slo.window)}; owner {slo.owner}.")
    if slo.description:
        text += f" {slo.description}"
    return text
