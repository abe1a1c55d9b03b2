"""The agent's own health as `journeyprobe.*` metrics, read from the daemon when a reader collects.

One list of `Reading`s serves both outputs: /metrics writes them as text at each scrape, and
OTLP gets them as observable instruments. Readings run in the exporters' threads and the
/metrics writer; they only read counters (ints and floats) and tolerate components that are
missing or not started yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from agent.core import metric_names as n
from exporters import prom_text as t

Points = list[tuple[dict[str, str], float]]


@dataclass(frozen=True, slots=True)
class Lateness:
    """`journeyprobe_run_start_lateness_seconds`: how late runs start, from the scheduler's own
    counts (/metrics only: OpenTelemetry has no observable histogram)."""

    daemon: Any
    prometheus: str = "journeyprobe_run_start_lateness_seconds"
    description: str = "How late runs started after their due time."

    def text(self) -> str:
        scheduler = schedule(self.daemon)
        bounds = getattr(scheduler, "lateness_bounds", None)
        if scheduler is None or bounds is None:
            return ""
        buckets, count, total = list(scheduler.lateness_buckets), scheduler.started_total, scheduler.lateness_sum
        return t.family(self.prometheus, "histogram", self.description,
                        [t.histogram_lines(self.prometheus, "", tuple(bounds), buckets, count, total,
                                           t.le_texts(bounds))])


@dataclass(frozen=True, slots=True)
class Reading:
    """One self metric: its OpenTelemetry name, Prometheus name and type, and how to read it."""

    name: str
    prometheus: str
    kind: str  # gauge or counter
    unit: str
    description: str
    read: Callable[[], Points]


def schedule(daemon: Any) -> Any:
    """What keeps the schedule: the daemon's worker processes when it has them, else its scheduler."""
    return getattr(daemon, "workers", None) or getattr(daemon, "scheduler", None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _read(obj: Any, *path: str) -> float | None:
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return _number(obj)


def self_readings(daemon: Any, export_failures: Callable[[], Mapping[str, int]],
                  exporters: Iterable[str] = (),
                  dropped: Mapping[str, Callable[[], int]] | None = None) -> list[Reading | Lateness]:
    """Readings over `daemon` (scheduler, state.store, state.last_reload_ok).

    `exporters` names the export pipelines whose failure counters start at 0;
    `dropped` adds sinks (such as jsonl) to `journeyprobe.results.dropped` by name.
    """
    signals = tuple(exporters)
    extra_dropped = dict(dropped or {})

    def one(*path: str) -> Callable[[], Points]:
        def read() -> Points:
            value = _read(daemon, *path)
            return [({}, value)] if value is not None else []
        return read

    def scheduled(name: str) -> Callable[[], Points]:
        def read() -> Points:
            value = _read(schedule(daemon), name)
            return [({}, value)] if value is not None else []
        return read

    def failures() -> Points:
        counts = dict.fromkeys(signals, 0) | dict(export_failures())
        return [({"exporter": k}, float(v)) for k, v in sorted(counts.items())]

    def results_dropped() -> Points:
        out: Points = []
        store = _read(daemon, "state", "store", "dropped")
        if store is not None:
            out.append(({"sink": "store"}, store))
        out.extend(({"sink": sink}, float(count())) for sink, count in extra_dropped.items())
        return out

    return [
        Reading(n.SELF_IN_FLIGHT, "journeyprobe_runs_in_flight", "gauge", "{run}",
                "Runs executing or waiting for a slot now.", scheduled("in_flight")),
        Reading(n.SELF_SKIPPED, "journeyprobe_runs_skipped_total", "counter", "{run}",
                "Due runs skipped: the journey's last run was still going.", scheduled("skipped_total")),
        Reading(n.SELF_EXPORT_FAILURES, "journeyprobe_export_failures_total", "counter", "{export}",
                "Telemetry exports that failed (collector down or refusing).", failures),
        Reading(n.SELF_STORE_LAG, "journeyprobe_store_write_lag_seconds", "gauge", "s",
                "Queue-to-commit time of the store's last batch.", one("state", "store", "last_flush_lag_s")),
        Reading(n.SELF_STORE_PENDING, "journeyprobe_store_pending", "gauge", "{result}",
                "Results waiting to be written to the store.", one("state", "store", "pending")),
        Reading(n.SELF_DROPPED, "journeyprobe_results_dropped_total", "counter", "{result}",
                "Results a sink dropped because it was behind.", results_dropped),
        Reading(n.SELF_RELOAD_OK, "journeyprobe_config_last_reload_success_timestamp_seconds", "gauge", "s",
                "Unix time of the last successful load of the journey files.", one("state", "last_reload_ok")),
        Lateness(daemon),
    ]


def register_self_metrics(meter: Meter, readings: Sequence[Reading | Lateness]) -> None:
    """The readings as OpenTelemetry observable instruments (for OTLP)."""
    for reading in readings:
        if isinstance(reading, Lateness):
            continue
        def observe(options: CallbackOptions, read: Callable[[], Points] = reading.read) -> Iterable[Observation]:
            return [Observation(value, labels) for labels, value in read()]
        create = meter.create_observable_counter if reading.kind == "counter" else meter.create_observable_gauge
        create(reading.name, [observe], unit=reading.unit, description=reading.description)


def self_metrics_text(readings: Sequence[Reading | Lateness]) -> str:
    """The readings as Prometheus text, read now."""
    return "".join(r.text() if isinstance(r, Lateness) else
                   t.family(r.prometheus, r.kind, r.description,
                            (t.sample(r.prometheus, t.labels_text(labels), value) for labels, value in r.read()))
                   for r in readings)
