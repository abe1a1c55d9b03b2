"""What each proposed speed fix buys: the cost bench's checks with the fix emulated at run time.

    .venv/bin/python bench/ablation.py --checks 1000 --rounds 3

The fixes proposed in docs/benchmarks.md are emulated here by patching the agent in this process
(nothing is changed on disk), and every variant runs `--checks` checks of a local target
(bench/target.py, its own process), `--concurrency` at once, in rounds that interleave the
variants so they share the machine's load. CPU is this process's, per check, median of rounds.
Once a fix is applied in the code its patch here changes nothing and its row equals "as is".
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from _common import (
    at_concurrency,
    fmt,
    journey_dict,
    machine,
    print_table,
    round_robin_check,
    target_process,
    write_json,
)

from agent.journey.model import Journey
from agent.probe.context import ProbeSettings
from agent.probe.runner import Runner

Patch = Callable[[], Any]


# -- the fixes, emulated ------------------------------------------------------------------------------
@contextmanager
def environ_no_copy() -> Iterator[None]:
    """templating.Variables.__init__: read os.environ live instead of copying it every run."""
    from agent.journey import variables as templating

    original = templating.Variables.__init__

    def init(self: Any, environ: Any = None) -> None:
        original(self, {})
        self._environ = os.environ if environ is None else environ
        self.values["env"]._environ = self._environ
        self.values["secret"]._environ = self._environ

    templating.Variables.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        templating.Variables.__init__ = original  # type: ignore[method-assign]


@contextmanager
def no_shield() -> Iterator[None]:
    """runner.Runner.run_once: `await ctx.aclose()` without asyncio.shield (one Task less per run)."""
    from agent.probe import runner

    proxy = types.SimpleNamespace(**{k: getattr(asyncio, k) for k in dir(asyncio) if not k.startswith("__")})
    proxy.shield = lambda aw: aw
    runner.asyncio = proxy  # type: ignore[assignment]
    try:
        yield
    finally:
        runner.asyncio = asyncio


@contextmanager
def shared_connector() -> Iterator[None]:
    """http_session.new_session: one agent-wide TCPConnector(force_close=True) instead of one per run."""
    from agent.probe.http import session as http_session

    original = http_session.new_session
    connector = aiohttp.TCPConnector(
        limit=0, use_dns_cache=False, force_close=True, ssl=http_session.ssl_context(True)
    )  # type: ignore[arg-type]

    def new_session(settings: ProbeSettings) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            trace_configs=[http_session._TRACE_CONFIG],
            headers={"User-Agent": settings.user_agent},
            auto_decompress=True,
            timeout=aiohttp.ClientTimeout(total=None),
            raise_for_status=False,
        )

    http_session.new_session = new_session
    try:
        yield
    finally:
        http_session.new_session = original


@contextmanager
def exemplars_off() -> Iterator[None]:
    """telemetry.Telemetry: exemplar_filter=AlwaysOffExemplarFilter() when only Prometheus reads."""
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter

    from exporters import telemetry

    original = telemetry.TraceBasedExemplarFilter
    telemetry.TraceBasedExemplarFilter = AlwaysOffExemplarFilter  # type: ignore[misc]
    try:
        yield
    finally:
        telemetry.TraceBasedExemplarFilter = original  # type: ignore[misc]


# -- variants -----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Variant:
    name: str
    telemetry: bool = False
    daemon: bool = False
    patches: tuple[Callable[[], Any], ...] = ()
    cheap_spans: bool = False
    bare: bool = False


RUNNER_FIXES = (environ_no_copy, no_shield)
VARIANTS = [
    Variant("aiohttp (bare), reference", bare=True),
    Variant("runner as is"),
    Variant("runner, environ read live", patches=(environ_no_copy,)),
    Variant("runner, aclose without shield", patches=(no_shield,)),
    Variant("runner, shared connector", patches=(shared_connector,)),
    Variant("runner, environ + shield", patches=RUNNER_FIXES),
    Variant("+telemetry as is", telemetry=True),
    Variant("+telemetry, non-recording spans", telemetry=True, cheap_spans=True),
    Variant("+telemetry, exemplars off", telemetry=True, patches=(exemplars_off,)),
    Variant("+telemetry, spans + exemplars", telemetry=True, cheap_spans=True, patches=(exemplars_off,)),
    Variant(
        "+telemetry, all fixes", telemetry=True, cheap_spans=True, patches=(exemplars_off, *RUNNER_FIXES)
    ),
    Variant("+telemetry+store+log as is", telemetry=True, daemon=True),
    Variant(
        "+telemetry+store+log, all fixes",
        telemetry=True,
        daemon=True,
        cheap_spans=True,
        patches=(exemplars_off, *RUNNER_FIXES),
    ),
]


async def run_variant(
    variant: Variant, url: str, checks: int, concurrency: int, tmp: Path
) -> tuple[float, int]:
    """CPU seconds per check of one variant (after a short warm-up), and the failures."""
    with ExitStack() as stack:
        for patch in variant.patches:
            stack.enter_context(patch())
        if variant.bare:

            async def bare() -> bool:
                async with aiohttp.ClientSession() as session, session.get(url) as response:
                    await response.read()
                    return response.status == 200

            one: Callable[[], Any] = bare
            closers: list[Callable[[], Any]] = []
        else:
            one, closers = await _journeyprobe(variant, url, concurrency, tmp)
        await at_concurrency(min(50, checks), concurrency, one, 60)
        cpu0 = time.process_time()
        done, ok, _ = await at_concurrency(checks, concurrency, one, 300)
        for closer in closers:
            await closer()
        return (time.process_time() - cpu0) / max(done, 1), done - ok


async def _journeyprobe(
    variant: Variant, url: str, concurrency: int, tmp: Path
) -> tuple[Callable[[], Any], list[Callable[[], Any]]]:
    journeys = [
        Journey.model_validate(journey_dict(f"abl-{i:03d}", url, slo=variant.daemon))
        for i in range(concurrency)
    ]
    runner = Runner(ProbeSettings(location="bench"))
    sinks: list[Callable[[Any, Any], Any]] = []
    closers: list[Callable[[], Any]] = []
    store: Any = None
    if variant.telemetry:
        from exporters.telemetry import Telemetry

        telemetry = Telemetry(location="bench", prometheus=True)
        if variant.cheap_spans:
            from exporters.tracing import IdOnlyTracer  # F4, now the default without a span exporter

            telemetry.hooks = dataclasses.replace(telemetry.hooks, tracer=IdOnlyTracer())
        runner.observer_factory = telemetry.observer
        sinks.append(telemetry.record)
        closers.append(telemetry.aclose)
    if variant.daemon:
        from agent.daemon.logs import log_run
        from agent.store.sqlite import Store

        store = await Store.open(tmp / f"store-{time.monotonic_ns()}.db")
        sinks.append(lambda result, journey: log_run(result))
        closers.insert(0, store.close)
    return round_robin_check(runner, journeys, store, sinks), closers


async def bench(url: str, checks: int, concurrency: int, rounds: int, names: list[str]) -> dict[str, Any]:

    from agent.daemon.logs import setup_logging, stop_logging

    variants = [v for v in VARIANTS if not names or any(n in v.name for n in names)]
    per: dict[str, list[float]] = {v.name: [] for v in variants}
    failures = dict.fromkeys(per, 0)
    with tempfile.TemporaryDirectory(prefix="jp-bench-ablation-") as tmp:
        log_file = await asyncio.to_thread(open, os.path.join(tmp, "agent.log"), "w")
        setup_logging("text", "info", stream=log_file)
        try:
            for number in range(rounds):
                order = variants[number % len(variants) :] + variants[: number % len(variants)]
                for variant in order:
                    cpu, failed = await run_variant(variant, url, checks, concurrency, Path(tmp))
                    per[variant.name].append(cpu)
                    failures[variant.name] += failed
                    print(
                        f"round {number + 1} {variant.name:<36} {cpu * 1e6:8.1f} µs CPU/check",
                        file=sys.stderr,
                    )
        finally:
            stop_logging()
            log_file.close()
    medians = {name: statistics.median(values) * 1e6 for name, values in per.items()}
    return {
        "per_round_us": {k: [round(v * 1e6, 1) for v in vs] for k, vs in per.items()},
        "median_us": {k: round(v, 1) for k, v in medians.items()},
        "failures": failures,
    }


def report(result: dict[str, Any]) -> None:
    med = result["median_us"]
    baselines = {
        "runner": "runner as is",
        "+telemetry,": "+telemetry as is",
        "+telemetry+store+log,": "+telemetry+store+log as is",
    }
    rows = []
    for name, value in med.items():
        base = next(
            (med.get(b) for prefix, b in baselines.items() if name.startswith(prefix) and name != b), None
        )
        change = f"{value - base:+.0f} µs ({(value - base) / base:+.0%})" if base else ""
        rows.append(
            [
                name,
                fmt(value, ".0f"),
                " ".join(fmt(v, ".0f") for v in result["per_round_us"][name]),
                change,
            ]
        )
    print_table(
        f"CPU µs per check with each proposed fix emulated ({result['checks']} checks, "
        f"concurrency {result['concurrency']}, median of {result['rounds']} rounds)",
        ["variant", "µs/check", "per round", "change vs as is"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated substrings of variant names")
    parser.add_argument("--out", help="JSON file to write (default bench/out/ablation-<time>.json)")
    args = parser.parse_args()
    checks, rounds = max(1, min(args.checks, 100_000)), max(1, min(args.rounds, 20))
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    with target_process(3600) as (_, base):
        result = asyncio.run(bench(f"{base}/ok", checks, args.concurrency, rounds, names))
    result = {
        "bench": "ablation",
        "machine": machine(),
        "checks": checks,
        "concurrency": args.concurrency,
        "rounds": rounds,
        **result,
    }
    report(result)
    write_json("ablation", result, args.out)


if __name__ == "__main__":
    main()
