"""The benchmarks' HTTP target, run in its own process so its CPU is never counted as the agent's.

    python bench/target.py [--port 0] [--max-seconds 7200]

Prints `PORT <n>` on stdout once it listens on 127.0.0.1. Exits when its stdin closes (the bench
that started it ended) or after --max-seconds, whichever comes first.

    GET /ok            200, a 2-byte text body
    GET /delay?ms=N    200 after exactly N ms: asyncio.sleep to 25 ms before, then a busy wait
                       (meant for one request at a time: the precision bench)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiohttp import web

SPIN_S = 0.025  # a long asyncio.sleep wakes up to ~10 ms late on this VM: spin the last 25 ms


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def delay(request: web.Request) -> web.Response:
    started = time.perf_counter()
    wanted = float(request.query.get("ms", "0")) / 1000.0
    until = started + min(max(wanted, 0.0), 30.0)
    if until - time.perf_counter() > SPIN_S:
        await asyncio.sleep(until - time.perf_counter() - SPIN_S)
    while time.perf_counter() < until:
        pass
    return web.Response(text="ok")


async def main(port: int, max_seconds: float) -> None:
    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/delay", delay)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {bound}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()

    def on_stdin() -> None:
        if not sys.stdin.buffer.read1(4096) and not stdin_closed.done():  # type: ignore[attr-defined]
            stdin_closed.set_result(None)

    try:
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    except (OSError, ValueError, NotImplementedError):
        pass
    try:
        await asyncio.wait_for(stdin_closed, max_seconds)
    except TimeoutError:
        pass
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="HTTP target of the benchmarks (127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=7200.0)
    args = parser.parse_args()
    asyncio.run(main(args.port, min(args.max_seconds, 86400.0)))
