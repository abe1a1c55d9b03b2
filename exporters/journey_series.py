"""The journeys' series on /metrics: counts kept per journey, written as text only after they change.

A run updates a few numbers of its journey's `JourneyBlock` (a dict lookup, a bisect, some
additions: a few µs). A scrape asks each block for its text, family by family; a block that
no run touched since the last scrape hands back the lines it wrote then, so a scrape costs
what changed, not every series of every journey (docs/benchmarks.md).

Runs are recorded on the event loop and scrapes are written in a thread: each block carries a
version that `record` makes odd while it changes the numbers and even again after, and the
writer keeps a block's text only when the version was even and the same before and after
(a sequence lock), so no scrape shows a histogram half-updated.

Which series a journey has depends on its detail (`agent.core.metric_names.DETAILS`).
"""

from __future__ import annotations

import itertools
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.core import metric_names as n
from agent.probe.result import Outcome, RunResult
from exporters import prom_text as t

if TYPE_CHECKING:
    from agent.journey.model import Journey


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: str
    help: str


RUNS = Family("journey_runs_total", "counter", "Finished journey runs by outcome.")
DURATION = Family("journey_duration_seconds", "histogram", "Duration of journey runs.")
STEP_DURATION = Family("journey_step_duration_seconds", "histogram", "Duration of the steps of journey runs.")
SUCCESS = Family("journey_success", "gauge", "1 if the journey's last run succeeded, else 0.")
HTTP_DURATION = Family("http_client_request_duration_seconds", "histogram", "Duration of HTTP client requests.")
VITAL = Family("journey_browser_vital_seconds", "histogram",
               "Web vitals of pages browser steps load (timings).")
LAYOUT_SHIFT = Family("journey_browser_layout_shift", "histogram",
                      "Cumulative layout shift of pages browser steps load.")
FAMILIES = (RUNS, DURATION, STEP_DURATION, SUCCESS, HTTP_DURATION, VITAL, LAYOUT_SHIFT)
_RANK = {n.DETAIL_BASIC: 0, n.DETAIL_STEPS: 1, n.DETAIL_REQUESTS: 2}


def detail_of(journey: Journey | None, default: str) -> str:
    """The journey's own `telemetry.detail`, else the agent's."""
    own = getattr(getattr(journey, "telemetry", None), "detail", None)
    return own or default


def at_least(detail: str, level: str) -> bool:
    return _RANK.get(detail, 0) >= _RANK[level]


def run_bounds(journey: Journey | None, detail: str) -> tuple[float, ...]:
    """Bounds of the journey's run histogram: the detail's, plus every latency SLO threshold
    (so that `journeyprobe rules` can count good runs from a bucket whatever the detail)."""
    bounds = set(n.BASIC_BUCKETS if detail == n.DETAIL_BASIC else n.DURATION_BUCKETS)
    for slo in getattr(journey, "slos", ()):
        latency = getattr(slo.indicator, "latency", None)
        if latency is not None:
            bounds.add(float(latency))
    return tuple(sorted(bounds))


class Histogram:
    """One histogram series: counts per bucket (not cumulative), count and sum."""

    __slots__ = ("bounds", "buckets", "count", "labels", "le", "total")

    def __init__(self, bounds: tuple[float, ...], le: tuple[str, ...], labels: str) -> None:
        self.bounds, self.le, self.labels = bounds, le, labels
        self.buckets = [0] * len(bounds)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        index = bisect_left(self.bounds, value)  # the first bound >= value: `le` is inclusive
        if index < len(self.buckets):
            self.buckets[index] += 1
        self.count += 1
        self.total += value

    def text(self, name: str) -> str:
        return t.histogram_lines(name, self.labels, self.bounds, self.buckets, self.count, self.total, self.le)


class JourneyBlock:
    """Every series of one journey at one location, and the text last written from them."""

    def __init__(self, journey: Journey | None, name: str, location: str, labels: Mapping[str, str],
                 detail: str) -> None:
        self.journey = journey
        self.detail = detail
        self.base = base_labels(name, location, labels)
        self.base_text = t.labels_text(self.base)
        self.bounds = run_bounds(journey, detail)
        self._run_le = t.le_texts(self.bounds)
        self._step_bounds: tuple[float, ...] = () if detail == n.DETAIL_BASIC else n.DURATION_BUCKETS
        self._step_le = t.le_texts(self._step_bounds)
        self.runs: dict[tuple[str, str | None], list[Any]] = {}
        self.success: int | None = None
        self.durations: dict[str, Histogram] = {}
        self.steps: dict[tuple[str, str], Histogram] = {}
        self.requests: dict[tuple[Any, ...], Histogram] = {}
        self.vitals: dict[tuple[str, str], Histogram] = {}
        self.shifts: dict[str, Histogram] = {}
        self.version = 0
        self._text: dict[Family, str] = {}
        self._text_version = -1

    def _labels(self, **extra: Any) -> str:
        return t.labels_text({**self.base, **{k: str(v) for k, v in extra.items() if v is not None}})

    # -- changes (the event loop) -------------------------------------------------------------------
    def record(self, result: RunResult) -> None:
        self.version += 1  # odd: changing
        try:
            outcome = result.outcome.value
            key = (outcome, result.error_type)
            runs = self.runs.get(key)
            if runs is None:
                runs = self.runs[key] = [0, self._labels(journey_outcome=outcome, error_type=result.error_type)]
            runs[0] += 1
            self.success = 1 if result.passed else 0
            duration = self.durations.get(outcome)
            if duration is None:
                duration = self.durations[outcome] = Histogram(self.bounds, self._run_le,
                                                               self._labels(journey_outcome=outcome))
            duration.observe(result.duration_s)
            vitals = at_least(self.detail, n.DETAIL_STEPS)
            for step in result.steps:
                if step.outcome is Outcome.SKIPPED:
                    continue
                step_key = (step.name, step.outcome.value)
                series = self.steps.get(step_key)
                if series is None:
                    series = self.steps[step_key] = Histogram(
                        self._step_bounds, self._step_le,
                        self._labels(journey_step=step.name, journey_outcome=step.outcome.value))
                series.observe(step.duration_s)
                if vitals and step.vitals:
                    self._record_vitals(step.name, step.vitals)
        finally:
            self.version += 1

    def _record_vitals(self, step: str, pages: Iterable[Mapping[str, Any]]) -> None:
        for page in pages:
            for key, value in page.items():
                if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if key == "cls":
                    shift = self.shifts.get(step)
                    if shift is None:
                        shift = self.shifts[step] = Histogram(n.LAYOUT_SHIFT_BUCKETS, _SHIFT_LE,
                                                              self._labels(journey_step=step))
                    shift.observe(value)
                elif key.endswith("_s"):
                    vital = self.vitals.get((step, key))
                    if vital is None:
                        vital = self.vitals[(step, key)] = Histogram(
                            n.DURATION_BUCKETS, _DURATION_LE, self._labels(journey_step=step, vital=key[:-2]))
                    vital.observe(value)

    def record_request(self, duration_s: float, attributes: Mapping[str, Any]) -> None:
        """One HTTP request (hop) of a run, with the semantic-convention attributes."""
        key = tuple(sorted(attributes.items()))
        self.version += 1
        try:
            series = self.requests.get(key)
            if series is None:
                labels = {**self.base, **{_label_name(k): _value(v) for k, v in attributes.items()}}
                labels.pop("probe_location", None)  # as before: requests carry no location label
                series = self.requests[key] = Histogram(n.DURATION_BUCKETS, _DURATION_LE, t.labels_text(labels))
            series.observe(duration_s)
        finally:
            self.version += 1

    # -- text (any thread) --------------------------------------------------------------------------
    def text(self, family: Family) -> str:
        """This block's lines of `family`."""
        return self.texts().get(family, "")

    def texts(self) -> dict[Family, str]:
        """This block's lines by family, written again only if a run changed the block since."""
        for _ in range(1000):
            version = self.version
            if version == self._text_version:
                return self._text
            if version & 1:  # a change is under way on the loop: let it finish
                time.sleep(0)
                continue
            text = self._write()
            if self.version == version:
                self._text, self._text_version = text, version
                return text
        return self._text  # pragma: no cover - a change that never ends

    def _write(self) -> dict[Family, str]:
        out: dict[Family, str] = {}
        if self.runs:
            out[RUNS] = "".join(t.sample(RUNS.name, labels, count) for count, labels in list(self.runs.values()))
        if self.success is not None:
            out[SUCCESS] = t.sample(SUCCESS.name, self.base_text, self.success)
        for family, series in ((DURATION, self.durations), (STEP_DURATION, self.steps),
                               (HTTP_DURATION, self.requests), (VITAL, self.vitals), (LAYOUT_SHIFT, self.shifts)):
            if series:
                out[family] = "".join(h.text(family.name) for h in list(series.values()))
        return out


_DURATION_LE = t.le_texts(n.DURATION_BUCKETS)
_SHIFT_LE = t.le_texts(n.LAYOUT_SHIFT_BUCKETS)


def _value(value: Any) -> str:
    """A label value: booleans as OpenTelemetry's exporters write them (true, false)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _label_name(key: str) -> str:
    return key.replace(".", "_")


def base_labels(name: str, location: str, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels every series of a journey carries: its name, the location, its own labels."""
    return {"journey_name": name, "probe_location": location,
            **{_label_name(k): v for k, v in n.label_attributes(labels).items()}}


class JourneySeries:
    """Every journey's block; `record` from the result sink, `families()` for /metrics."""

    def __init__(self, location: str = "", detail: str = n.DETAIL_BASIC) -> None:
        self.location = location
        self.detail = detail
        self._blocks: dict[tuple[str, str], JourneyBlock] = {}
        self._added = 0  # blocks made so far: the ordered list below is of `_ordered[0]` of them
        self._ordered: tuple[int, list[JourneyBlock]] = (0, [])

    def block(self, journey: Journey | None, name: str, location: str,
              labels: Mapping[str, str]) -> JourneyBlock:
        """The journey's block, new when the journey changed what it puts on /metrics."""
        key = (name, location)
        block = self._blocks.get(key)
        if block is not None and (block.journey is journey or journey is None):
            return block
        detail = detail_of(journey, self.detail)
        if (block is None or block.detail != detail or block.bounds != run_bounds(journey, detail)
                or block.base != base_labels(name, location, labels)):
            block = JourneyBlock(journey, name, location, labels, detail)
            self._blocks[key] = block  # a new block starts the counts over: Prometheus sees a reset
            self._added += 1
        block.journey = journey
        return block

    def record(self, result: RunResult, journey: Journey | None = None) -> None:
        labels = journey.labels if journey is not None else result.labels
        self.block(journey, result.journey, result.location or self.location, labels).record(result)

    def wants_requests(self, journey: Journey | None) -> bool:
        return detail_of(journey, self.detail) == n.DETAIL_REQUESTS

    def blocks(self) -> list[JourneyBlock]:
        added, ordered = self._ordered
        if added != self._added:  # read before the sort: a block added meanwhile makes the next call sort again
            added = self._added
            ordered = sorted(self._blocks.values(), key=lambda b: (b.base["journey_name"], b.base["probe_location"]))
            self._ordered = (added, ordered)
        return ordered

    def families(self, primed: Iterable[Journey] = ()) -> Iterator[str]:
        """The text of every journey family, family by family (the format groups a family's lines).

        `primed` journeys have `journey_runs_total{journey_outcome="success"}` from the start, at 0
        until their first successful run (so that `rate()` sees the first one)."""
        texts = [block.texts() for block in self.blocks()]  # each journey as of one moment
        zeros = self._zeros(primed)
        for family in FAMILIES:
            lines = (text.get(family, "") for text in texts)
            yield t.family(family.name, family.kind, family.help,
                           itertools.chain(lines, zeros) if family is RUNS else lines)

    def _zeros(self, journeys: Iterable[Journey]) -> list[str]:
        out = []
        for journey in journeys:
            block = self._blocks.get((journey.name, self.location))
            if block is None or (Outcome.SUCCESS.value, None) not in block.runs:
                labels = {**base_labels(journey.name, self.location, journey.labels), "journey_outcome": "success"}
                out.append(t.sample(RUNS.name, t.labels_text(labels), 0))
        return out
