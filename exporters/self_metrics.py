"""The agent's own health as `journeyprobe.*` metrics, read from the daemon when a reader collects.

Callbacks run in the exporters' threads and the /metrics handler; they only read counters
(ints and floats) and tolerate components that are missing or not started yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from agent.core import metric_names as n

Source = Callable[[], Any]


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


def register_self_metrics(meter: Meter, daemon: Any, export_failures: Callable[[], Mapping[str, int]],
                          exporters: Iterable[str] = (),
                          dropped: Mapping[str, Callable[[], int]] | None = None) -> None:
    """Observable instruments over `daemon` (scheduler, state.store, state.last_reload_ok).

    `exporters` names the export pipelines whose failure counters start at 0;
    `dropped` adds sinks (such as jsonl) to `journeyprobe.results.dropped` by name.
    """
    signals = tuple(exporters)
    extra_dropped = dict(dropped or {})

    def in_flight(options: CallbackOptions) -> Iterable[Observation]:
        value = _read(daemon, "scheduler", "in_flight")
        return [Observation(value)] if value is not None else []

    def skipped(options: CallbackOptions) -> Iterable[Observation]:
        value = _read(daemon, "scheduler", "skipped_total")
        return [Observation(value)] if value is not None else []

    def failures(options: CallbackOptions) -> Iterable[Observation]:
        counts = dict.fromkeys(signals, 0) | dict(export_failures())
        return [Observation(v, {n.EXPORTER: k}) for k, v in sorted(counts.items())]

    def store_lag(options: CallbackOptions) -> Iterable[Observation]:
        value = _read(daemon, "state", "store", "last_flush_lag_s")
        return [Observation(value)] if value is not None else []

    def store_pending(options: CallbackOptions) -> Iterable[Observation]:
        value = _read(daemon, "state", "store", "pending")
        return [Observation(value)] if value is not None else []

    def results_dropped(options: CallbackOptions) -> Iterable[Observation]:
        out = []
        store = _read(daemon, "state", "store", "dropped")
        if store is not None:
            out.append(Observation(store, {n.SINK: "store"}))
        for sink, count in extra_dropped.items():
            out.append(Observation(count(), {n.SINK: sink}))
        return out

    def reload_ok(options: CallbackOptions) -> Iterable[Observation]:
        value = _read(daemon, "state", "last_reload_ok")
        return [Observation(value)] if value is not None else []

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
    meter.create_observable_gauge(n.SELF_RELOAD_OK, [reload_ok], unit="s",
                                  description="Unix time of the last successful load of the journey files.")
