"""A body costs about its own size: read into one buffer; `contains` and `matches` search its UTF-8 bytes,
and it is decoded to text only when something needs text.

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


def body_app(declared: bool, charset: str | None) -> web.Application:
    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if charset:
            response.headers["Content-Type"] = f"text/plain; charset={charset}"
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


async def peak_of(expect: str, declared: bool, outcome: str = "success", charset: str | None = None) -> float:
    async with serve(body_app(declared, charset)) as url:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PROBE, url, expect, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        out, _ = await asyncio.wait_for(child.communicate(), 120)
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["outcome"] == outcome, report
    ratio = report["peak"] / SIZE
    print(f"{expect!r} declared={declared}: peak {report['peak'] / 2**20:.1f} MiB = {ratio:.2f}x the body")
    return float(ratio)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_body_only_the_status_looks_at_costs_its_size(declared: bool) -> None:
    assert await peak_of("status == 200", declared) < 1.3


@pytest.mark.parametrize(("expect", "outcome"), [
    ('body contains "aaaa"', "success"),
    ('body not contains "zzz"', "success"),
    ('body matches "a{4}$"', "success"),
    ('body contains "zzz"', "failure"),  # the message shows the beginning: decoded alone
], ids=["contains", "not-contains", "matches", "failed-contains"])
async def test_a_body_searched_for_text_costs_its_size(expect: str, outcome: str) -> None:
    assert await peak_of(expect, True, outcome) < 1.3


async def test_a_body_in_a_charset_other_than_utf8_costs_one_copy_more_while_it_is_decoded() -> None:
    assert 1.5 < await peak_of('body contains "aaaa"', True, "success", charset="latin-1") < 2.3
