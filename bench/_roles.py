"""The side-by-side bench's roles that run in their own processes (bench_side_by_side.py).

- the bare aiohttp loop: N checks a second, each a new ClientSession, the count to a status file;
- the driver: without a Prometheus, probes blackbox for every target and scrapes the daemon.

Everything on 127.0.0.1; each loop ends after its `max_seconds`.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
from pathlib import Path


def bare_loops(tick: float) -> dict[str, float]:
    """The bare loops of a run and their ticks: one as the daemon starts runs, one each check alone."""
    return {"aiohttp (bare)": tick, "aiohttp (bare, spread)": 0.0}


async def bare_loop(url: str, rate: float, max_seconds: float, status: Path, tick: float) -> None:
    """`rate` checks a second on a fixed schedule, each with a new session; the count to `status`.

    With a `tick` (s), the checks due within one tick start together at its end, as the daemon's
    scheduler starts its runs (`schedule.tick`); 0 starts each at its own moment.
    """
    import aiohttp

    done = 0
    tasks: set[asyncio.Task[None]] = set()

    async def check() -> None:
        nonlocal done
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                await response.read()
        except aiohttp.ClientError:
            pass
        done += 1

    loop = asyncio.get_running_loop()
    start = loop.time()
    k = 0
    last_status = 0.0
    while (now := loop.time()) - start < max_seconds:
        while k / rate <= now - start:
            task = asyncio.create_task(check())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        if now - last_status >= 0.5:
            await asyncio.to_thread(status.write_text, f"{done}\n")
            last_status = now
        wake = start + k / rate
        if tick > 0:
            wake = start + math.ceil((wake - start) / tick) * tick
        await asyncio.sleep(max(0.0, wake - loop.time()))
    await asyncio.gather(*tasks, return_exceptions=True)


def scrape(url: str) -> str:
    out = subprocess.run(["curl", "-s", "--max-time", "30", url], capture_output=True, timeout=60)
    return out.stdout.decode()


async def drive(blackbox: str | None, targets: list[str], interval: float, daemon: str, scrape_every: float,
                seconds: float) -> int:
    """Without Prometheus: probe blackbox for every target each interval and scrape the daemon."""
    import aiohttp

    probes = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    rate = len(targets) / interval
    next_scrape = start + scrape_every
    k = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def probe(target: str) -> None:
            nonlocal probes
            if blackbox is None:
                return
            async with session.get(f"{blackbox}/probe", params={"module": "http_2xx", "target": target}) as r:
                await r.read()
            probes += 1

        tasks: set[asyncio.Task[None]] = set()
        while (now := loop.time()) - start < seconds:
            while k / rate <= now - start:
                task = asyncio.create_task(probe(targets[k % len(targets)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                k += 1
            if now >= next_scrape:
                await asyncio.to_thread(scrape, daemon + "/metrics")
                next_scrape += scrape_every
            await asyncio.sleep(min(0.01, max(0.0, start + k / rate - loop.time())))
        await asyncio.gather(*tasks, return_exceptions=True)
    return probes
