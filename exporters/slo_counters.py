"""Per-SLO event counters that exist from the start: `slo_events_total` and `slo_good_events_total`.

The generated Prometheus rules read these rather than `journey_runs_total`. Two reasons:

- every SLO of every loaded journey is exported at 0 before its first run, so `rate()` and
  `increase()` see the first failure (a counter series that first appears at 1 has no
  earlier sample to rise from, and Prometheus never counts that first step);
- they are incremented with the agent's own verdicts (`agent.slo.indicator.is_good`), so a
  latency SLO needs no histogram boundary and an agent-side failure is left out exactly as
  the agent leaves it out: the rules count what the agent counts, by construction.

Labels: `slo_name`, `journey_name`, `probe_location`; two series per SLO. The counts are
cumulative in memory (like every counter of the agent, they start over with the process).

`journey_runs_total{journey_outcome="success"}` is zero-initialised here too, for every loaded
journey: the success series can be created ahead of time because its label set is known.
Failed runs carry an `error_type` whose value is only known when they fail, so those series
still appear at their first increment; SLO arithmetic should use the counters above.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, Counter, Meter, Observation

from agent.core import metric_names as n
from agent.probe.result import RunResult
from agent.slo.indicator import is_good
from exporters import prom_text as t

if TYPE_CHECKING:
    from agent.journey.model import Journey

JourneysSource = Callable[[], Iterable["Journey"] | None]
EVENTS_HELP = "Runs that count for the SLO (agent-side failures left out)."
GOOD_HELP = "Good events of the SLO, as the agent judges them."
_Key = tuple[str, str, str]  # (journey, slo, location)


class SloCounters:
    """The agent's per-SLO verdicts as two monotonic counters (observable, read at collection)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._runs: Counter | None = None
        self._counts: dict[_Key, list[int]] = {}  # [events, good events]
        self._journeys: JourneysSource | None = None
        self._primed: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
        self._lock = threading.Lock()

    def register(self, meter: Meter, runs: Counter | None = None) -> None:
        """As OpenTelemetry observable counters (for OTLP); `runs`: `journey.runs`, to prime at 0."""
        self._runs = runs
        meter.create_observable_counter(
            n.SLO_EVENTS, [self._observe_events], unit="{event}", description=EVENTS_HELP)
        meter.create_observable_counter(
            n.SLO_GOOD_EVENTS, [self._observe_good], unit="{event}", description=GOOD_HELP)

    def text(self) -> str:
        """`slo_events_total` and `slo_good_events_total` as Prometheus text, counted now."""
        counts = sorted(self.counts().items())
        labels = [(t.labels_text({"journey_name": j, "probe_location": loc, "slo_name": slo}), c)
                  for (j, slo, loc), c in counts]
        return (t.family("slo_events_total", "counter", EVENTS_HELP,
                         (t.sample("slo_events_total", text, c[0]) for text, c in labels))
                + t.family("slo_good_events_total", "counter", GOOD_HELP,
                           (t.sample("slo_good_events_total", text, c[1]) for text, c in labels)))

    def journeys(self) -> list[Journey]:
        """The tracked journeys now (their `journey_runs_total{journey_outcome="success"}` starts at 0)."""
        return self._current()

    def track(self, journeys: JourneysSource) -> None:
        """Export every SLO of `journeys()` (read at each collection) at 0 until it has events."""
        self._journeys = journeys

    def record(self, result: RunResult, journey: Journey) -> None:
        """Count one finished run in each SLO of its journey (a daemon result sink; cheap)."""
        if not journey.slos:
            return
        location = result.location or self.location
        with self._lock:
            for slo in journey.slos:
                verdict = is_good(slo, result)
                if verdict is None:
                    continue
                counts = self._counts.setdefault((journey.name, slo.name, location), [0, 0])
                counts[0] += 1
                counts[1] += int(verdict)

    def counts(self) -> dict[_Key, tuple[int, int]]:
        """(events, good) per (journey, SLO, location): every SLO of the tracked journeys, at 0 until
        it has events (SLOs no longer configured are left out); everything counted when untracked."""
        with self._lock:
            out = {key: (c[0], c[1]) for key, c in self._counts.items()}
        if self._journeys is None:
            return out
        wanted = {(journey.name, slo.name) for journey in self._current() for slo in journey.slos}
        out = {key: value for key, value in out.items() if key[:2] in wanted}
        for journey, slo in wanted:
            out.setdefault((journey, slo, self.location), (0, 0))
        return out

    # -- collection (exporter threads and the /metrics handler) -------------------------------------
    def _current(self) -> list[Journey]:
        source = self._journeys
        if source is None:
            return []
        try:
            return list(source() or ())
        except Exception:  # a broken source must not break the other metrics
            return []

    def _observe_events(self, options: CallbackOptions) -> Iterable[Observation]:
        self._prime_runs()
        return [Observation(events, _attributes(key)) for key, (events, _) in self.counts().items()]

    def _observe_good(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(good, _attributes(key)) for key, (_, good) in self.counts().items()]

    def _prime_runs(self) -> None:
        """`journey_runs_total{journey_outcome="success"}` at 0 for journeys not seen before."""
        if self._runs is None:
            return
        for journey in self._current():
            labels = n.label_attributes(journey.labels)
            key = (journey.name, self.location, tuple(sorted(labels.items())))
            if key in self._primed:
                continue
            self._primed.add(key)
            self._runs.add(0, {n.JOURNEY_NAME: journey.name, n.PROBE_LOCATION: self.location, **labels,
                               n.JOURNEY_OUTCOME: "success"})


def _attributes(key: _Key) -> dict[str, Any]:
    journey, slo, location = key
    return {n.SLO_NAME: slo, n.JOURNEY_NAME: journey, n.PROBE_LOCATION: location}
