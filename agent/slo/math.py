"""SLO arithmetic: SLI, error budget, burn rate and the multi-window burn-rate thresholds.

Burn rate is how fast the error budget goes compared with the pace that would spend it
exactly over the SLO window: 1 spends it all in one window, 14.4 spends a 30-day budget in
a little over two days. A window with no events has no SLI and no burn rate (None), never
a perfect 100%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SEVERITIES = ("page", "ticket")
FULL_SHARE = 0.9
"""An `auto` minimum never asks more of a window than this share of the runs it holds when full."""


def sli(good: int, total: int) -> float | None:
    """Good events over all events that count; None without events."""
    return good / total if total > 0 else None


def error_budget_remaining(sli_value: float | None, objective: float) -> float | None:
    """1 - (1 - SLI) / (1 - objective): 1 untouched, 0 spent, below 0 overspent."""
    if sli_value is None:
        return None
    return 1.0 - (1.0 - sli_value) / (1.0 - objective)


def burn_rate(sli_value: float | None, objective: float) -> float | None:
    """(1 - SLI) / (1 - objective): exactly 1 when the error ratio equals the budget."""
    if sli_value is None:
        return None
    return (1.0 - sli_value) / (1.0 - objective)


@dataclass(frozen=True, slots=True)
class AlertPair:
    """One long/short window pair of the SRE Workbook's multi-window, multi-burn-rate alerts.

    It fires when both windows burn faster than `threshold`, i.e. when `consumed` of the
    whole budget would be gone within `long` at the current pace.
    """

    severity: str
    long: str
    short: str
    long_s: int
    short_s: int
    consumed: float
    threshold: float


# (severity, long window, short window, budget fraction consumed within the long window)
PAIR_SPECS: tuple[tuple[str, str, str, float], ...] = (
    ("page", "1h", "5m", 0.02),
    ("page", "6h", "30m", 0.05),
    ("ticket", "1d", "2h", 0.10),
    ("ticket", "3d", "6h", 0.10),
)


def alert_pairs(window_s: float) -> tuple[AlertPair, ...]:
    """The pairs for an SLO window, thresholds scaled to it: consumed x window / long window.

    30 days gives 14.4 / 6 / 3 / 1; 28 days 13.44 / 5.6 / 2.8 / 0.933. A pair whose long
    window is longer than the SLO window itself is left out.
    """
    from agent.slo.windows import BURN_WINDOWS

    out = []
    for severity, long, short, consumed in PAIR_SPECS:
        long_s, short_s = BURN_WINDOWS[long], BURN_WINDOWS[short]
        if long_s > window_s:
            continue
        out.append(AlertPair(severity, long, short, long_s, short_s, consumed, consumed * window_s / long_s))
    return tuple(out)


def single_failure_burn(interval_s: float, long_s: float, objective: float) -> float:
    """The burn rate one failed run causes in a window of `long_s` seconds of runs every `interval_s`."""
    runs = max(1.0, long_s / interval_s)
    return (1.0 / runs) / (1.0 - objective)


def failures_to_fire(pair: AlertPair, interval_s: float, objective: float) -> int:
    """Failed runs within the long window it takes for `pair` to fire (its short window aside)."""
    runs = max(1.0, pair.long_s / interval_s)
    allowed = pair.threshold * (1.0 - objective) * runs
    return int(allowed) + 1


def one_failure_events(pair: AlertPair, objective: float) -> int:
    """Events a window needs before one bad event alone is no longer above `pair`'s threshold.

    One bad event in N is a burn of 1 / (N x (1 - objective)); it stays at or under the
    threshold from N = 1 / (threshold x (1 - objective)) on: 15 for 99.5% over 28 days (1h pair).
    """
    return max(1, math.ceil(1.0 / (pair.threshold * (1.0 - objective)) - 1e-9))


def min_events(pair: AlertPair, objective: float, interval_s: float, setting: int | str = "auto") -> int:
    """Events `pair`'s long window must hold before the pair may alert.

    `auto`: `one_failure_events`, so a young SLO's first failure cannot fire the pair, but never
    more than FULL_SHARE of the runs the long window holds at one run every `interval_s` (a full
    window is judged as it always was; `validate` warns where one failure then still pages).
    A number is taken as it is; 0 judges from the first event.
    """
    if not isinstance(setting, str):
        return int(setting)
    full = int(FULL_SHARE * pair.long_s / max(interval_s, 1e-9))
    return max(1, min(one_failure_events(pair, objective), full))
