"""The agent's own health as `journeyprobe.*` metrics, read from a typed snapshot when a reader collects.

One list of `Reading`s serves both outputs: /metrics writes them as text at each scrape (one
`health()` call per scrape), and OTLP gets them as observable instruments. `health()` runs in
the exporters' threads and the /metrics writer: it must only read counters, quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from agent.core import metric_names as n
from exporters import prom_text as t

Points = list[tuple[dict[str, str], float]]


@dataclass(frozen=True, slots=True)
class Lateness:
    """How late runs started: counts per bucket of `bounds` (not cumulative), all runs, the sum."""

    bounds: tuple[float, ...]
    buckets: tuple[int, ...]
    count: int
    total_s: float

    @classmethod
    def of(cls, schedule: Any) -> Lateness:
        """From a scheduler, or the daemon's workers (`lateness_bounds`, `lateness_buckets`, ...)."""
        return cls(tuple(schedule.lateness_bounds), tuple(schedule.lateness_buckets), schedule.started_total,
                   schedule.lateness_sum)


@dataclass(frozen=True, slots=True)
class Health:
    """The agent's own health at one moment; None where a part is not started yet."""

    runs_in_flight: int | None = None
    runs_skipped: int | None = None
    store_flush_lag_s: float | None = None
    store_pending: int | None = None
    store_dropped: int | None = None
    last_reload_ok: float | None = None
    internal_errors: int | None = None
    """Steps that failed inside the agent itself (the runner's last-resort catch)."""
    sinks_dropped: Mapping[str, int] = field(default_factory=dict)
    """Results other sinks (jsonl) dropped because they were behind, by sink."""
    lateness: Lateness | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One self metric: its OpenTelemetry name, Prometheus name and type, and how to read it."""

    name: str
    prometheus: str
    kind: str  # gauge or counter
    unit: str
    description: str
    read: Callable[[Health], Points]


def _one(value: float | None) -> Points:
    return [({}, float(value))] if value is not None else []


def self_readings(export_failures: Callable[[], Mapping[str, int]], exporters: Iterable[str] = (),
                  sinks: Iterable[str] = ()) -> list[Reading]:
    """The readings. `exporters` names the export pipelines whose failure counters start at 0;
    `sinks` names the sinks besides the store whose dropped counters start at 0."""
    signals = tuple(exporters)
    other_sinks = tuple(sinks)

    def failures(health: Health) -> Points:
        counts = dict.fromkeys(signals, 0) | dict(export_failures())
        return [({n.EXPORTER: k}, float(v)) for k, v in sorted(counts.items())]

    def dropped(health: Health) -> Points:
        out: Points = [({n.SINK: "store"}, float(health.store_dropped))] if health.store_dropped is not None else []
        counts = dict.fromkeys(other_sinks, 0) | dict(health.sinks_dropped)
        out.extend(({n.SINK: sink}, float(count)) for sink, count in sorted(counts.items()))
        return out

    return [
        Reading(n.SELF_IN_FLIGHT, "journeyprobe_runs_in_flight", "gauge", "{run}",
                "Runs executing or waiting for a slot now.", lambda h: _one(h.runs_in_flight)),
        Reading(n.SELF_SKIPPED, "journeyprobe_runs_skipped_total", "counter", "{run}",
                "Due runs skipped: the journey's last run was still going.", lambda h: _one(h.runs_skipped)),
        Reading(n.SELF_EXPORT_FAILURES, "journeyprobe_export_failures_total", "counter", "{export}",
                "Telemetry exports that failed (collector down or refusing).", failures),
        Reading(n.SELF_STORE_LAG, "journeyprobe_store_write_lag_seconds", "gauge", "s",
                "Queue-to-commit time of the store's last batch.", lambda h: _one(h.store_flush_lag_s)),
        Reading(n.SELF_STORE_PENDING, "journeyprobe_store_pending", "gauge", "{result}",
                "Results waiting to be written to the store.", lambda h: _one(h.store_pending)),
        Reading(n.SELF_DROPPED, "journeyprobe_results_dropped_total", "counter", "{result}",
                "Results a sink dropped because it was behind.", dropped),
        Reading(n.SELF_INTERNAL_ERRORS, "journeyprobe_internal_errors_total", "counter", "{error}",
                "Steps that failed inside the agent itself (a bug to report), not because of a target.",
                lambda h: _one(h.internal_errors)),
        Reading(n.SELF_RELOAD_OK, "journeyprobe_config_last_reload_success_timestamp_seconds", "gauge", "s",
                "Unix time of the last successful load of the journey files.", lambda h: _one(h.last_reload_ok)),
    ]


def register_self_metrics(meter: Meter, health: Callable[[], Health], readings: Sequence[Reading]) -> None:
    """The readings as OpenTelemetry observable instruments over `health()` (for OTLP)."""
    for reading in readings:
        def observe(options: CallbackOptions, read: Callable[[Health], Points] = reading.read
                    ) -> Iterable[Observation]:
            return [Observation(value, labels) for labels, value in read(health())]
        create = meter.create_observable_counter if reading.kind == "counter" else meter.create_observable_gauge
        create(reading.name, [observe], unit=reading.unit, description=reading.description)


LATENESS = "journeyprobe_run_start_lateness_seconds"


def self_metrics_text(health: Health, readings: Sequence[Reading]) -> str:
    """The readings as Prometheus text, and the start lateness histogram (/metrics only:
    OpenTelemetry has no observable histogram)."""
    parts = [t.family(r.prometheus, r.kind, r.description,
                      (t.sample(r.prometheus, t.labels_text(labels), value) for labels, value in r.read(health)))
             for r in readings]
    late = health.lateness
    if late is not None:
        parts.append(t.family(LATENESS, "histogram", "How late runs started after their due time.",
                              [t.histogram_lines(LATENESS, "", late.bounds, list(late.buckets), late.count,
                                                 late.total_s, t.le_texts(late.bounds))]))
    return "".join(parts)
