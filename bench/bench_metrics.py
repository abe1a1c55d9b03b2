"""What /metrics costs: recording a run and writing a scrape, three ways, at 1,000 and 5,000 journeys.

    .venv/bin/python bench/bench_metrics.py --journeys 1000,5000 --rounds 3

No network: one-step results are made up and recorded straight into
- `otel`: the OpenTelemetry SDK with a PrometheusMetricReader and prometheus_client's text
  (what /metrics was before: every instrument collected and converted at every scrape),
- `library`: journeyprobe's per-journey counts (exporters/journey_series.py) handed to
  prometheus_client's `generate_latest` through a collector, converted at every scrape,
- `journeyprobe`: the same counts with the text each journey keeps between runs (/metrics now).
Each at the old default detail (`requests`: 65 series a one-step journey) and the new one
(`basic`: 14). A scrape is timed twice: after every journey ran once (at 1,000 journeys every
10 s and a scrape every 15 s, every journey runs between two scrapes) and after a tenth did.
CPU is this process's (time.process_time), the median of the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, print_table, write_json

from agent.core import metric_names as n
from agent.journey.model import Journey
from agent.probe.result import Outcome, Phases, RunResult, StepResult
from exporters.journey_series import FAMILIES, JourneySeries

REQUEST = {n.HTTP_METHOD: "GET", n.HTTP_STATUS: 200, n.SERVER_ADDRESS: "127.0.0.1", n.SERVER_PORT: 8080}


def journeys(count: int, detail: str) -> list[Journey]:
    return [Journey.model_validate({"name": f"bench-{i:05d}", "telemetry": {"detail": detail},
                                    "steps": [{"name": "get", "http": {"url": "http://127.0.0.1:8080/ok"}}]})
            for i in range(count)]


def result(journey: Journey, seconds: float) -> RunResult:
    step = StepResult("get", Outcome.SUCCESS, seconds, status=200, phases=Phases(0, 0.0001, 0, seconds, 0))
    return RunResult(journey=journey.name, outcome=Outcome.SUCCESS, started_at=datetime.now(UTC),
                     duration_s=seconds + 0.001, trace_id="0" * 32, location="bench", steps=(step,))


class Contender:
    """`record(journey, result)` and `scrape() -> bytes` of one way to make /metrics."""

    record: Callable[[Journey, RunResult], None]
    scrape: Callable[[], bytes]


def otel(detail: str) -> Contender:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.resources import Resource
    from prometheus_client import CollectorRegistry, generate_latest

    from exporters.otel_metrics import EXPLICIT, OtelMetrics

    registry = CollectorRegistry(auto_describe=False)
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    metrics = OtelMetrics(Resource.create({"service.name": "journeyprobe"}), [reader], exemplars=False,
                          histograms=EXPLICIT)
    contender = Contender()

    def record(journey: Journey, run: RunResult) -> None:
        base = {n.JOURNEY_NAME: journey.name, n.PROBE_LOCATION: "bench"}
        if detail == n.DETAIL_REQUESTS:
            metrics.record_request(run.steps[0].duration_s, {**REQUEST, n.JOURNEY_NAME: journey.name,
                                                             n.JOURNEY_STEP: "get"}, None)
        metrics.record(run, base, False, None)

    contender.record = record
    contender.scrape = lambda: generate_latest(registry)
    return contender


def ours(detail: str, library: bool) -> Contender:
    series = JourneySeries("bench", detail)
    contender = Contender()

    def record(journey: Journey, run: RunResult) -> None:
        if detail == n.DETAIL_REQUESTS:
            series.block(journey, journey.name, "bench", {}).record_request(run.steps[0].duration_s, REQUEST)
        series.record(run, journey)

    contender.record = record
    if library:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(LibraryCollector(series))  # type: ignore[arg-type]
        contender.scrape = lambda: generate_latest(registry)
    else:
        contender.scrape = lambda: "".join(series.families()).encode()
    return contender


class LibraryCollector:
    """journeyprobe's counts as prometheus_client metric families (written by the library)."""

    def __init__(self, series: JourneySeries) -> None:
        self.series = series

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        blocks = self.series.blocks()
        runs = CounterMetricFamily("journey_runs", FAMILIES[0].help, labels=["journey_name", "journey_outcome",
                                                                                "probe_location"])
        success = GaugeMetricFamily("journey_success", FAMILIES[3].help, labels=["journey_name", "probe_location"])
        histograms = {f.name: HistogramMetricFamily(f.name, f.help) for f in FAMILIES if f.kind == "histogram"}
        for block in blocks:
            name, location = block.base["journey_name"], block.base["probe_location"]
            for (outcome, _), (count, _) in block.runs.items():
                runs.add_metric([name, outcome, location], count)
            if block.success is not None:
                success.add_metric([name, location], block.success)
            for family, table in (("journey_duration_seconds", block.durations),
                                  ("journey_step_duration_seconds", block.steps),
                                  ("http_client_request_duration_seconds", block.requests)):
                for histogram in table.values():
                    cumulative, buckets = 0, []
                    for le, count in zip(histogram.le, histogram.buckets, strict=True):
                        cumulative += count
                        buckets.append((le, cumulative))
                    buckets.append(("+Inf", histogram.count))
                    labels = dict(part.split("=", 1) for part in histogram.labels.replace('"', "").split(","))
                    metric = histograms[family]
                    metric._labelnames = tuple(labels)
                    metric.add_metric(list(labels.values()), buckets, histogram.total)
        yield runs
        yield success
        yield from histograms.values()


def measure(make: Callable[[], Contender], count: int, detail: str) -> dict[str, float]:
    items = journeys(count, detail)
    contender = make()
    for journey in items:  # every series exists before timing
        contender.record(journey, result(journey, 0.02))
    contender.scrape()
    results = [result(journey, 0.01 + (i % 50) / 100) for i, journey in enumerate(items)]
    cpu = time.process_time()
    for journey, run in zip(items, results, strict=True):
        contender.record(journey, run)
    record_us = (time.process_time() - cpu) / count * 1e6
    cpu = time.process_time()
    page = contender.scrape()
    all_changed_ms = (time.process_time() - cpu) * 1e3
    for journey, run in zip(items[: max(1, count // 10)], results, strict=False):
        contender.record(journey, run)
    cpu = time.process_time()
    contender.scrape()
    tenth_changed_ms = (time.process_time() - cpu) * 1e3
    return {"record_us": round(record_us, 2), "scrape_all_changed_ms": round(all_changed_ms, 2),
            "scrape_tenth_changed_ms": round(tenth_changed_ms, 2), "page_bytes": len(page)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", default="1000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    counts = [max(1, min(int(c), 20_000)) for c in args.journeys.split(",")]
    contenders: dict[str, Callable[[str], Contender]] = {
        "otel": otel, "library": lambda d: ours(d, True), "journeyprobe": lambda d: ours(d, False)}
    rows, data = [], []
    for count in counts:
        for detail in (n.DETAIL_REQUESTS, n.DETAIL_BASIC):
            for name, make in contenders.items():
                runs = [measure(lambda make=make, detail=detail: make(detail), count, detail)  # type: ignore[misc]
                        for _ in range(max(1, min(args.rounds, 10)))]
                median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                data.append({"journeys": count, "detail": detail, "contender": name, **median})
                rows.append([count, detail, name, median["record_us"], median["scrape_all_changed_ms"],
                             median["scrape_tenth_changed_ms"], f"{median['page_bytes'] / 1e6:.2f}"])
    print_table("/metrics: CPU to record a run and to write a scrape (median of rounds)",
                ["journeys", "detail", "contender", "record µs/run", "scrape ms (all ran)",
                 "scrape ms (a tenth ran)", "page MB"], rows)
    write_json("metrics", {"bench": "metrics", "machine": machine(), "results": data}, args.out)


if __name__ == "__main__":
    main()
