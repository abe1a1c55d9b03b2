"""A body costs about its own size: read into one buffer, decoded to text only when something reads it.

The probe runs in a child process that measures its Python allocations (tracemalloc) during one run
against a 40 MB body served by this process; the peak is compared with the body's size.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from aiohttp import web

from tests.targets import serve

SIZE = 40 * 1024 * 1024
BLOCK = b"a" * 65536
ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import asyncio, json, sys, tracemalloc
from agent.journey.model import Journey
from agent.probe.runner import Runner

url, expect = sys.argv[1], sys.argv[2]
def journey(address):
    return Journey.model_validate({"name": "big", "steps": [{"name": "get", "expect": [expect],
                                   "http": {"url": address, "max_body": 3 * 40 * 1024 * 1024}}]})

async def main():
    runner = Runner()
    await runner.run(journey(url + "/small"))  # imports, caches and the session's first use, before measuring
    tracemalloc.start()
    result = await runner.run(journey(url + "/big"))
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"peak": peak, "outcome": result.outcome.value, "error": result.error}))

asyncio.run(main())
"""


def body_app(declared: bool) -> web.Application:
    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if declared:
            response.content_length = SIZE
        await response.prepare(request)
        for _ in range(SIZE // len(BLOCK)):
            await response.write(BLOCK)
        await response.write_eof()
        return response

    async def small(request: web.Request) -> web.Response:
        return web.Response(text="a" * 100)

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/small", small)
    return app


async def peak_of(expect: str, declared: bool) -> float:
    async with serve(body_app(declared)) as url:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PROBE, url, expect, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        out, _ = await asyncio.wait_for(child.communicate(), 120)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["outcome"] == ("success" if "aaaa" in expect or "status" in expect else "failure"), report
    ratio = report["peak"] / SIZE
    print(f"{expect!r} declared={declared}: peak {report['peak'] / 2**20:.1f} MiB = {ratio:.2f}x the body")
    return float(ratio)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_only_the_status_looks_at_costs_its_size(declared: bool) -> None:
    assert await peak_of("status == 200", declared) < 1.3


async def test_a_body_read_as_text_costs_one_copy_more_while_it_is_decoded() -> None:
    assert await peak_of('body contains "aaaa"', True) < 2.3
