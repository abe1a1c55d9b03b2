"""Browser journeys per minute: one shared Chromium (a context per run) against a Chromium per run.

Runs a checkout flow (goto, fill, select, click, expect_text, expect_url) sequentially against a
local aiohttp page, and reports runs per minute and the resident memory of the whole process tree
(this process, the Playwright driver and every Chromium process) at the start and the end.

    .venv/bin/python bench/bench_browser.py --runs 500 --per-run-runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config.models import BrowserConfig
from agent.journey.model import Journey
from agent.probe.browser.pool import BrowserPool, pool_for
from agent.probe.browser.procs import chromium_processes, tree_pss_bytes, tree_rss_bytes
from agent.probe.context import ProbeSettings
from agent.probe.runner import Runner

FORM = """<!doctype html><html><head><title>Checkout</title></head><body><h1>Checkout</h1>
<form method="post" action="/pay"><input id="name" name="name"><input id="card" name="card">
<select id="country" name="country"><option>FR</option><option>JP</option></select>
<button id="pay">Pay</button></form></body></html>"""


def app() -> web.Application:
    async def form(request: web.Request) -> web.Response:
        return web.Response(text=FORM, content_type="text/html")

    async def pay(request: web.Request) -> web.Response:
        data = await request.post()
        raise web.HTTPSeeOther(f"/thanks?name={data.get('name', '')}")

    async def thanks(request: web.Request) -> web.Response:
        name = request.query.get("name", "")
        return web.Response(text=f"<h1>Thank you, {name}!</h1>", content_type="text/html")

    application = web.Application()
    application.router.add_get("/checkout", form)
    application.router.add_post("/pay", pay)
    application.router.add_get("/thanks", thanks)
    return application


def flow(base: str) -> Journey:
    return Journey.model_validate({"name": "bench-checkout", "timeout": "30s", "steps": [{"name": "pay",
                                                                                           "browser": [
        {"goto": f"{base}/checkout"},
        {"fill": {"selector": "#name", "value": "Ada"}},
        {"fill": {"selector": "#card", "value": "4242 4242 4242 4242"}},
        {"select": {"selector": "#country", "value": "JP"}},
        {"click": "#pay"},
        {"expect_text": "Thank you, Ada!"},
        {"expect_url": "/thanks*"},
    ]}]})


def mib(value: int) -> float:
    return round(value / 1024 / 1024, 1)


async def shared(journey: Journey, runs: int, budget: float, config: BrowserConfig,
                 artifacts: Path) -> dict[str, Any]:
    """Sequential runs on one shared browser (the agent's way)."""
    runner = Runner(ProbeSettings(artifacts_dir=artifacts))
    runner.resources.browser = config
    first = await runner.run(journey)  # launches the browser: not counted
    assert first.passed, first.error
    rss_start, pss_start = tree_rss_bytes(), tree_pss_bytes()
    started = time.perf_counter()
    done = failed = 0
    step_s = 0.0
    while done < runs and time.perf_counter() - started < budget:
        result = await runner.run(journey)
        done += 1
        failed += not result.passed
        step_s += result.steps[0].duration_s
    elapsed = time.perf_counter() - started
    pool = pool_for(runner.resources)
    out = {"mode": "shared browser", "runs": done, "failed": failed, "seconds": round(elapsed, 2),
           "runs_per_minute": round(done / elapsed * 60, 1), "mean_step_s": round(step_s / max(done, 1), 3),
           "rss_start_mib": mib(rss_start), "rss_end_mib": mib(tree_rss_bytes()),
           "pss_start_mib": mib(pss_start), "pss_end_mib": mib(tree_pss_bytes()),
           "chromium_processes": len(chromium_processes()), "launches": pool.launches,
           "open_contexts": pool.open_contexts}
    await runner.resources.close()
    return out


async def per_run(journey: Journey, runs: int, budget: float, config: BrowserConfig,
                  artifacts: Path) -> dict[str, Any]:
    """Sequential runs, each launching and closing its own browser (what the pool saves)."""
    rss_start = tree_rss_bytes()
    started = time.perf_counter()
    done = failed = 0
    while done < runs and time.perf_counter() - started < budget:
        runner = Runner(ProbeSettings(artifacts_dir=artifacts))
        runner.resources.browser_pool = BrowserPool(config)
        result = await runner.run(journey)
        await runner.resources.close()
        done += 1
        failed += not result.passed
    elapsed = time.perf_counter() - started
    return {"mode": "browser per run", "runs": done, "failed": failed, "seconds": round(elapsed, 2),
            "runs_per_minute": round(done / elapsed * 60, 1), "rss_start_mib": mib(rss_start),
            "rss_end_mib": mib(tree_rss_bytes())}


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    runner = web.AppRunner(app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    journey = flow(f"http://127.0.0.1:{port}")
    config = BrowserConfig(executable_path=args.executable)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as folder:
        results.append(await shared(journey, args.runs, args.max_seconds, config, Path(folder)))
        if args.per_run_runs:
            results.append(await per_run(journey, args.per_run_runs, args.max_seconds, config, Path(folder)))
    await runner.cleanup()
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500, help="runs on the shared browser (default 500)")
    parser.add_argument("--per-run-runs", type=int, default=50,
                        help="runs with a browser per run (default 50; 0 skips them)")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop each mode after this long, whatever the count (default 600)")
    parser.add_argument("--executable", default=None, help="Chromium to use (default: as the agent finds it)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = asyncio.run(main(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for row in results:
        print(f"{row['mode']:>16}: {row['runs']} runs ({row['failed']} failed) in {row['seconds']}s = "
              f"{row['runs_per_minute']} runs/min; process tree RSS {row['rss_start_mib']} MiB -> "
              f"{row['rss_end_mib']} MiB" + (f" (PSS {row['pss_start_mib']} -> {row['pss_end_mib']} MiB)"
                                               if "pss_start_mib" in row else ""))
    if len(results) == 2 and results[1]["runs_per_minute"]:
        print(f"shared browser is {results[0]['runs_per_minute'] / results[1]['runs_per_minute']:.1f}x "
              "the runs per minute of a browser per run")


if __name__ == "__main__":
    cli()
