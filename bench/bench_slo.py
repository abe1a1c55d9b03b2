"""Benchmark of the SLO engine: 1,000 SLOs x 30 days of per-minute counts.

Plain script, bounded (about a minute and a half, at most `--budget` seconds of building):
`python bench/bench_slo.py [--slos 1000] [--days 30] [--load 1000]`. Measures

- memory:   the bytes of every SLO's series (minutes for 3 days, hours before, the edge buffer)
            and how much the process grew while building them;
- evaluate: every SLO's SLI, budget and 7 burn rates from the prefix sums (the periodic job);
- alerts:   the multi-window burn-rate assessment and state machine on top;
- observe:  one finished run counted in every SLO;
- settle:   one sync pass against the real SQLite store (one batched store call);
- load:     the start-up: reading the 30-day history of `--load` SLOs from the real store
            (a store of 1,000 x 30 days of minutes is ~1.1 GB, written in ~30 s first).

Results go to stdout and bench/out/slo-<slos>-<timestamp>.json. Temporary files are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.journey.model import Journey
from agent.slo.alerts import AlertBook
from agent.slo.engine import SloEngine
from agent.slo.windows import Row, TieredSeries
from agent.store.sqlite import Store
from tests.test_slo_fixtures import FakeStore, run_result, slo_journey

OUT = Path(__file__).resolve().parent / "out"


def journeys(count: int, days: int) -> list[Journey]:
    return [slo_journey(f"j{i:04d}", slos=[{"name": f"s{i:04d}", "objective": "99.9%", "window": f"{days}d",
                                             "owner": "bench"}]) for i in range(count)]


FAIL_EVERY, EXCLUDE_EVERY = 997, 5003


def _multiples(step: int, seed: int, since: int, until: int) -> int:
    """How many minutes m in [since, until) have (m + seed) % step == 0."""
    return (until - 1 + seed) // step - (since - 1 + seed) // step


def synthetic_rows(since: int, until: int, size: int, seed: int) -> list[Row]:
    """One run a minute; one in 997 fails, one in 5003 is agent-side (left out): the store's
    rows for minutes [since, until) in buckets of `size` minutes."""
    rows = []
    for start in range(since, until, size):
        end = min(start + size, until)
        excluded = _multiples(EXCLUDE_EVERY, seed, start, end)
        total = end - start - excluded
        bad = _multiples(FAIL_EVERY, seed, start, end)
        rows.append((start, total - bad, total, excluded))  # (a minute both failing and excluded: rare)
    return rows


def process_rss() -> int:
    """Resident bytes of this process now (Linux), else 0."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def median_s(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def amedian_s(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def in_memory(count: int, days: int, budget_s: float) -> dict[str, Any]:
    now = time.time() // 60 * 60 + 30
    head = int(now // 60)
    engine = SloEngine(FakeStore(), clock=lambda: now)
    js = journeys(count, days)
    engine.set_journeys(js)
    started = time.perf_counter()
    rss_before = process_rss()
    built = 0
    for n, tracker in enumerate(engine.trackers.values()):
        series = TieredSeries(round(tracker.slo.window / 60), head)
        series.load([synthetic_rows(*r, n) for r in series.load_ranges()])
        tracker.series = series
        tracker.settled = head
        built += 1
        if time.perf_counter() - started > budget_s:
            break
    grown = process_rss() - rss_before
    build_s = time.perf_counter() - started
    if built < count:
        print(f"building stopped after {built} SLOs ({budget_s:.0f}s budget)", file=sys.stderr)
    engine.trackers = dict(list(engine.trackers.items())[:built])
    minutes = sum(round(t.slo.window / 60) for t in engine.trackers.values())

    evaluate_s = median_s(lambda: engine.evaluate(now), 7)
    reports = engine.evaluate(now)
    book = AlertBook(FakeStore())
    alerts_s = await amedian_s(lambda: book.evaluate(reports, now), 5)
    results = [(run_result(j.name, now), j) for j in js[:built]]

    def observe_all() -> None:
        for result, journey in results:
            engine.observe(result, journey)

    observe_s = median_s(observe_all, 5)
    firing = sum(1 for st in book.states.values() if st.state == "firing")
    return {"slos": built, "days": days, "minutes_held": minutes, "build_s": round(build_s, 3),
            "evaluate_s": round(evaluate_s, 4), "alerts_s": round(alerts_s, 4),
            "observe_s": round(observe_s, 4),
            "series_bytes": sum(t.series.nbytes for t in engine.trackers.values() if t.series),
            "rss_growth_bytes": grown,
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "alerts_firing": firing, "sample_sli": reports[0].sli}


def fill_store(path: Path, js: list[Journey], full: int, days: int, now: float) -> None:
    """Write minute_counts rows straight into the store's schema (SQLite generates them): `full`
    SLOs with the whole window, the others with their last hour only."""
    head = int(now // 60)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    with conn:
        for n, journey in enumerate(js):
            span = days * 1440 if n < full else 60
            conn.execute(
                "WITH RECURSIVE m(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM m WHERE x < ?) "
                "INSERT INTO minute_counts (journey, slo, minute, good, total, excluded) "
                "SELECT ?, ?, x, (x + ?) % 997 != 0, 1, 0 FROM m",
                (head - span + 1, head, journey.name, journey.slos[0].name, n))
    conn.close()


async def real_store(count: int, days: int, full: int) -> dict[str, Any]:
    now = time.time() // 60 * 60 + 30
    js = journeys(count, days)
    with tempfile.TemporaryDirectory(prefix="jp-bench-slo-") as tmp:
        path = Path(tmp) / "jp.db"
        store = await Store.open(path, retention_s=days * 86400 + 86400)
        await store.close()
        started = time.perf_counter()
        fill_store(path, js, full, days, now)
        fill_s = time.perf_counter() - started
        store = await Store.open(path, retention_s=days * 86400 + 86400)
        try:
            engine = SloEngine(store, clock=lambda: now)
            engine.set_journeys(js[:full])
            started = time.perf_counter()
            await engine.sync(now)
            load_s = time.perf_counter() - started
            load_reads = engine.reads
            events = engine.evaluate(now)[0].events

            engine = SloEngine(store, clock=lambda: now)
            engine.set_journeys(js)
            await engine.sync(now)
            clock = [now + 120]
            engine.clock = lambda: clock[0]

            async def settle() -> None:
                clock[0] += 60
                await engine.sync(clock[0])

            settle_s = await amedian_s(settle, 3)
        finally:
            await store.close()
    return {"load_slos": full, "load_s": round(load_s, 3), "load_reads": load_reads,
            "load_per_slo_s": round(load_s / full, 5), "load_events_per_slo": events,
            "load_all_estimate_s": round(load_s / full * count, 2), "settle_s": round(settle_s, 4),
            "fill_s": round(fill_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--load", type=int, default=1000, help="SLOs whose full history the store load reads")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds allowed for building the series")
    args = parser.parse_args()
    logging.getLogger("journeyprobe").setLevel(logging.ERROR)  # the synthetic blips do alert
    memory = asyncio.run(in_memory(args.slos, args.days, args.budget))
    store = asyncio.run(real_store(args.slos, args.days, min(args.load, args.slos)))
    result = {"bench": "slo", **memory, **store}
    print(f"SLO engine, {memory['slos']} SLOs x {args.days} days of per-minute counts "
          f"({memory['minutes_held']:,} minutes in the windows)")
    print(f"  series: {memory['series_bytes'] / 2**20:.1f} MiB (process grew "
          f"{memory['rss_growth_bytes'] / 2**20:.0f} MiB building them, max RSS {memory['max_rss_mib']:.0f} MiB)")
    rows = [("evaluate all SLOs (SLI, budget, 7 burn rates)", memory["evaluate_s"]),
            ("alert assessment + state machine", memory["alerts_s"]),
            ("observe one run per SLO", memory["observe_s"]),
            ("settle sync, real store (1 batched call)", store["settle_s"]),
            (f"history load per SLO, real store ({store['load_events_per_slo']:,} minutes)",
             store["load_per_slo_s"]),
            ("building the in-memory series (bench setup)", memory["build_s"])]
    for label, seconds in rows:
        print(f"  {label:<58} {seconds * 1000:10.1f} ms")
    label = f"history load of {store['load_slos']} SLOs at start ({store['load_reads']} store calls)"
    print(f"  {label:<58} {store['load_s']:10.2f} s")
    if store["load_slos"] < memory["slos"]:
        label = f"history load of all {memory['slos']} SLOs (estimate)"
        print(f"  {label:<58} {store['load_all_estimate_s']:10.2f} s")
    print(f"  (alerts firing on the synthetic data, one failed run in 997: {memory['alerts_firing']})")
    OUT.mkdir(exist_ok=True)
    out = OUT / f"slo-{memory['slos']}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written {out.relative_to(OUT.parent.parent)}")


if __name__ == "__main__":
    main()
