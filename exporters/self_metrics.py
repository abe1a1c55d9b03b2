"""The agent's own health as `journeyprobe.*` metrics, read from a typed snapshot when a reader collects.

Callbacks run in the exporters' threads and the /metrics handler; `health()` must only read
counters (ints and floats), quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from agent.core import metric_names as n


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


def _one(value: float | None) -> list[Observation]:
    return [Observation(value)] if value is not None else []


def register_self_metrics(meter: Meter, health: Callable[[], Health],
                          export_failures: Callable[[], Mapping[str, int]], exporters: Iterable[str] = (),
                          sinks: Iterable[str] = ()) -> None:
    """Observable instruments over `health()`, read at each collection.

    `exporters` names the export pipelines whose failure counters start at 0; `sinks` names the
    sinks besides the store whose dropped counters start at 0.
    """
    signals = tuple(exporters)
    other_sinks = tuple(sinks)

    def in_flight(options: CallbackOptions) -> Iterable[Observation]:
        return _one(health().runs_in_flight)

    def skipped(options: CallbackOptions) -> Iterable[Observation]:
        return _one(health().runs_skipped)

    def failures(options: CallbackOptions) -> Iterable[Observation]:
        counts = dict.fromkeys(signals, 0) | dict(export_failures())
        return [Observation(v, {n.EXPORTER: k}) for k, v in sorted(counts.items())]

    def store_lag(options: CallbackOptions) -> Iterable[Observation]:
        return _one(health().store_flush_lag_s)

    def store_pending(options: CallbackOptions) -> Iterable[Observation]:
        return _one(health().store_pending)

    def results_dropped(options: CallbackOptions) -> Iterable[Observation]:
        now = health()
        out = [Observation(now.store_dropped, {n.SINK: "store"})] if now.store_dropped is not None else []
        counts = dict.fromkeys(other_sinks, 0) | dict(now.sinks_dropped)
        out.extend(Observation(count, {n.SINK: sink}) for sink, count in sorted(counts.items()))
        return out

    def internal_errors(options: CallbackOptions) -> Iterable[Observation]:
        return _one(health().internal_errors)

    def reload_ok(options: CallbackOptions) -> Iterable[Observation]:
        return _one(health().last_reload_ok)

    meter.create_observable_gauge(n.SELF_IN_FLIGHT, [in_flight], unit="{run}",
                                  description="Runs executing or waiting for a slot now.")
    meter.create_observable_counter(n.SELF_SKIPPED, [skipped], unit="{run}",
                                    description="Due runs skipped: the journey's last run was still going.")
    meter.create_observable_counter(n.SELF_EXPORT_FAILURES, [failures], unit="{export}",
                                    description="Telemetry exports that failed (collector down or refusing).")
    meter.create_observable_gauge(n.SELF_STORE_LAG, [store_lag], unit="s",
                                  description="Queue-to-commit time of the store's last batch.")
    meter.create_observable_gauge(n.SELF_STORE_PENDING, [store_pending], unit="{result}",
                                  description="Results waiting to be written to the store.")
    meter.create_observable_counter(n.SELF_DROPPED, [results_dropped], unit="{result}",
                                    description="Results a sink dropped because it was behind.")
    meter.create_observable_counter(n.SELF_INTERNAL_ERRORS, [internal_errors], unit="{error}",
                                    description="Steps that failed inside the agent itself (a bug to report), "
                                                "not because of a target.")
    meter.create_observable_gauge(n.SELF_RELOAD_OK, [reload_ok], unit="s",
                                  description="Unix time of the last successful load of the journey files.")
