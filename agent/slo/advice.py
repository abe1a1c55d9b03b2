"""Warnings about journeys that load but are likely to mislead (shown by `validate`).

The main one is low traffic. A synthetic probe makes few events: at one run a minute an
hour holds 60 runs, so one failed run is an error ratio of 1/60, a 16.7x burn against a
99.9% objective, above the 1-hour page threshold (13.44x for 28 days). One blip pages.
In closed form a single failed run fires the pair consuming `c` of the budget when
interval > c x window x (1 - objective), whatever the pair's long window.

The other is youth: a pair judges from `alerting.min_events` events in its long window on
(`agent.slo.math.min_events`); when one failure in that few events is above the threshold,
the SLO's first failed run pages. The `auto` default never lets that happen unless a full
window is itself too thin (the blip above); an explicit small `min_events` can.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from agent.core.durations import format_duration
from agent.journey.model import Journey, Slo
from agent.slo.math import AlertPair, alert_pairs, min_events, one_failure_events, single_failure_burn
from agent.slo.wording import objective_text

NICE_INTERVALS = (1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)
NICE_OBJECTIVES = (0.9999, 0.9995, 0.999, 0.998, 0.995, 0.99, 0.98, 0.95, 0.9, 0.8)


def journey_warnings(journeys: Sequence[Journey]) -> Iterator[str]:
    """Every warning about these journeys, as `FILE: SLO NAME: ...` sentences."""
    yield from _shared_slo_names(journeys)
    for journey in journeys:
        for slo in journey.slos:
            yield from slo_warnings(journey, slo)


def runs_in(window_s: float, interval_s: float) -> int:
    """Runs a window of that length holds at least (one, if the interval is longer)."""
    return max(1, int(window_s // interval_s))


def can_fire(pair: AlertPair, interval_s: float, min_runs: int, needed: int = 0) -> bool:
    """Whether the pair's short window ever holds `min_runs` runs and its long one `needed` events."""
    return runs_in(pair.short_s, interval_s) >= min_runs and runs_in(pair.long_s, interval_s) >= needed


def _needed(journey: Journey, slo: Slo, pair: AlertPair) -> int:
    return min_events(pair, slo.objective, journey.interval, slo.alerting.min_events)


def first_failure_pairs(journey: Journey, slo: Slo) -> list[AlertPair]:
    """The page pairs that a young SLO's first failed run fires: one bad event in the fewest
    events the pair judges on is above its threshold."""
    out = []
    for p in alert_pairs(slo.window):
        needed = _needed(journey, slo, p)
        if p.severity == "page" and can_fire(p, journey.interval, slo.alerting.min_runs, needed) \
                and 1.0 / (max(1, needed, slo.alerting.min_runs) * (1.0 - slo.objective)) > p.threshold:
            out.append(p)
    return out


def blip_pairs(journey: Journey, slo: Slo) -> list[AlertPair]:
    """The page pairs that a single failed run makes fire."""
    return [p for p in alert_pairs(slo.window)
            if p.severity == "page" and can_fire(p, journey.interval, slo.alerting.min_runs, _needed(journey, slo, p))
            and single_failure_burn(journey.interval, p.long_s, slo.objective) > p.threshold]


def slo_warnings(journey: Journey, slo: Slo) -> Iterator[str]:
    where = f"{journey.source or journey.name}: SLO {slo.name}"
    interval = journey.interval
    pairs = alert_pairs(slo.window)
    if pairs and not any(can_fire(p, interval, slo.alerting.min_runs) for p in pairs):
        longest = max(pairs, key=lambda p: p.short_s)
        yield (f"{where}: alerting.min_runs: {slo.alerting.min_runs} is more runs than the journey makes "
               f"in any short window (at most {runs_in(longest.short_s, interval)} in {longest.short} at "
               f"one run every {format_duration(interval)}), so this SLO never alerts")
        return
    if pairs and not any(can_fire(p, interval, slo.alerting.min_runs, _needed(journey, slo, p)) for p in pairs):
        longest = max(pairs, key=lambda p: p.long_s)
        yield (f"{where}: alerting.min_events: {slo.alerting.min_events} is more events than the journey makes "
               f"in any long window (at most {runs_in(longest.long_s, interval)} in {longest.long} at one run "
               f"every {format_duration(interval)}), so this SLO never alerts")
        return
    blips = blip_pairs(journey, slo)
    if not blips:
        yield from _young_warning(journey, slo, where)
        return
    pair = blips[0]
    burn = single_failure_burn(interval, pair.long_s, slo.objective)
    fixes = [f for f in (_interval_fix(pair, slo), _objective_fix(pair, slo, interval),
                         _min_runs_fix(journey, slo, blips)) if f]
    advice = (" or ".join(fixes[:2]) + (f", or {fixes[2]}" if len(fixes) > 2 else "")) if fixes else ""
    yield (f"{where}: one failed run in {pair.long} at one run every {format_duration(interval)} is a "
           f"{burn:.1f}x burn against {objective_text(slo.objective)}, above the {pair.threshold:.3g}x page "
           f"threshold for a {format_duration(slo.window)} window, so a single blip pages"
           + (f"; {advice}" if advice else ""))


def _young_warning(journey: Journey, slo: Slo, where: str) -> Iterator[str]:
    """A full window is fine, but the fewest events a pair judges on let the first failure page."""
    young = first_failure_pairs(journey, slo)
    if not young:
        return
    pair = young[0]
    needed = max(1, _needed(journey, slo, pair), slo.alerting.min_runs)
    burn = 1.0 / (needed * (1.0 - slo.objective))
    runs = f"{needed} run{'s' if needed != 1 else ''}"
    auto = ", ".join(f"{min_events(p, slo.objective, journey.interval)} runs in {p.long}" for p in young)
    safe = max(one_failure_events(p, slo.objective) for p in young)
    yield (f"{where}: its first failed run would page: alerting.min_events: {slo.alerting.min_events} lets the "
           f"{pair.long} pair judge from {runs}, where one failure is a {burn:.1f}x burn against "
           f"{objective_text(slo.objective)}, above the {pair.threshold:.3g}x page threshold; remove "
           f"min_events (auto waits for {auto}) or set it to {safe}")


def _interval_fix(pair: AlertPair, slo: Slo) -> str | None:
    limit = pair.consumed * slo.window * (1 - slo.objective)  # intervals below this need 2+ failures
    best = max((i for i in NICE_INTERVALS if i < limit), default=None)
    return f"run every {format_duration(best)}" if best is not None else None


def _objective_fix(pair: AlertPair, slo: Slo, interval: float) -> str | None:
    ceiling = 1 - interval / (pair.consumed * slo.window)
    best = max((o for o in NICE_OBJECTIVES if o < ceiling and o < slo.objective), default=None)
    return f"lower the objective to {objective_text(best)}" if best is not None else None


def _min_runs_fix(journey: Journey, slo: Slo, blips: list[AlertPair]) -> str | None:
    """min_runs above the runs of each blip pair's short window switches those pairs off."""
    needed = max(runs_in(p.short_s, journey.interval) for p in blips) + 1
    survivors = [p for p in alert_pairs(slo.window)
                 if runs_in(p.short_s, journey.interval) >= needed and p not in blips]
    page_left = [p for p in survivors if p.severity == "page"
                 and single_failure_burn(journey.interval, p.long_s, slo.objective) <= p.threshold]
    if not page_left:
        return None
    return (f"set alerting.min_runs: {needed} (pages then come from the {page_left[0].long} window, "
            f"which needs {_failures(page_left[0], journey.interval, slo)} failed runs)")


def _failures(pair: AlertPair, interval: float, slo: Slo) -> int:
    runs = pair.long_s / interval
    return math.floor(pair.threshold * (1 - slo.objective) * runs) + 1


def _shared_slo_names(journeys: Sequence[Journey]) -> Iterator[str]:
    owners: dict[str, list[Journey]] = {}
    for journey in journeys:
        for slo in journey.slos:
            owners.setdefault(slo.name, []).append(journey)
    for name, users in sorted(owners.items()):
        if len(users) > 1:
            files = ", ".join(j.source or j.name for j in users)
            yield (f"{files}: SLO name {name} is used by {len(users)} journeys; the slo label of metrics and "
                   f"alerts carries only the SLO name, so give each a distinct name")
