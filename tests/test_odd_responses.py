"""A sweep of odd responses from real servers: whatever a target sends, the fault is the target's.

No run may end as the agent's own `internal` error (that would drop it from SLOs): a charset
nobody knows is read anyway (with a note), a broken body is `invalid_response`, a body that is
not JSON fails `json.*` expectations. Every result must also serialise as UTF-8 JSON.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from agent.probe.result import ErrorType, Outcome, RunResult
from agent.probe.runner import Runner
from tests.conftest import journey
from tests.targets import serve

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXPECT = ["status == 200", "body contains \"a\"", "json.a exists", "header.Content-Type contains \"/\"",
          "body matches \"^.*$\"", "header.X-Odd not exists"]


def raw(body: bytes, content_type: str | None = "text/plain", **headers: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=body, headers=headers)
        if content_type is None:
            del response.headers["Content-Type"]
        else:
            response.headers["Content-Type"] = content_type
        return response
    return handler


async def truncated(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100"})
    await response.prepare(request)
    await response.write(b'{"a": [1, 2')
    assert request.transport is not None
    request.transport.close()
    return response


ODD: dict[str, Handler] = {
    "charset-utf8mb4": raw("{\"a\": \"café\"}".encode(), "application/json; charset=utf8mb4"),
    "charset-binary": raw(b"\x00\x01\xff\xfe a", "text/plain; charset=binary"),
    "charset-none": raw(b"a plain body", "text/html; charset=none"),
    "charset-empty": raw(b"a", "text/html; charset="),
    "charset-quoted-junk": raw(b"a", 'text/html; charset="\\"x y\\""'),
    "charset-rot13": raw(b"a", "text/plain; charset=rot13"),
    "charset-base64": raw(b"YQ==", "text/plain; charset=base64"),
    "charset-idna": raw("a ü".encode(), "text/plain; charset=idna"),
    "charset-utf16-odd-length": raw(b"\xff\xfea\x00b", "text/plain; charset=utf-16"),
    "charset-utf7-invalid": raw(b"+/v8-a+", "text/plain; charset=utf-7"),
    "invalid-utf8": raw(b"\xc3\x28 a \xa0\xa1", "application/json; charset=utf-8"),
    "binary-png": raw(bytes(range(256)) * 4, "image/png"),
    "binary-no-type": raw(bytes(range(255, -1, -1)), None),
    "empty-json": raw(b"", "application/json"),
    "empty-no-type": raw(b"", None),
    "truncated-json": raw(b'{"a": [1, 2, {"b": "unterminated', "application/json"),
    "deep-json": raw(b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "huge-int-json": raw(b'{"a": ' + b"9" * 10_000 + b"}", "application/json"),
    "nan-json": raw(b'{"a": NaN, "b": Infinity}', "application/json"),
    "json-bom": raw(b'\xef\xbb\xbf{"a": 1}', "application/json"),
    "json-lone-surrogate": raw(b'{"a": "\\ud800"}', "application/json"),
    "json-nul": raw(b'{"a": "x\\u0000y"}', "application/json"),
    "weird-content-type": raw(b"a", "no slash at all;;;=="),
    "content-type-params-junk": raw(b"a", "text/plain; ; =; charset"),
    "gzip-wrong-header": raw(b"this is not gzip at all", "text/plain", **{"Content-Encoding": "gzip"}),
    "deflate-wrong-header": raw(b"\x00\x01 nope", "text/plain", **{"Content-Encoding": "deflate"}),
    "gzip-truncated": raw(gzip.compress(b"a" * 10_000)[:40], "text/plain", **{"Content-Encoding": "gzip"}),
    "gzip-of-garbage-charset": raw(gzip.compress(b"\xff\xfe a"), "text/plain; charset=utf8mb4",
                                   **{"Content-Encoding": "gzip"}),
    "deflate-raw": raw(zlib.compress(b"a")[2:-4], "text/plain", **{"Content-Encoding": "deflate"}),
    "unknown-encoding": raw(b"a", "text/plain", **{"Content-Encoding": "x-made-up"}),
    "brotli-claimed": raw(b"not brotli", "text/plain", **{"Content-Encoding": "br"}),
    "zstd-claimed": raw(b"not zstd", "text/plain", **{"Content-Encoding": "zstd"}),
    "truncated-body": truncated,
}


@asynccontextmanager
async def odd_target() -> AsyncIterator[str]:
    app = web.Application()
    for name, handler in ODD.items():
        app.router.add_get(f"/{name}", handler)
    async with serve(app) as url:
        yield url


# Raw bytes no aiohttp server would send: header values that are not UTF-8, odd status lines.
RAW_RESPONSES: dict[str, bytes] = {
    "latin1-header": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=caf\xe9\r\nX-Odd: \xff\xfe\r\n"
                     b"Content-Length: 1\r\n\r\na",
    "status-999": b"HTTP/1.1 999 Whatever\r\nContent-Length: 1\r\n\r\na",
    "no-reason": b"HTTP/1.1 200\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\": 1}",
    "bad-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\na\r\n0\r\n\r\n",
    "http-0.9-ish": b"a",
    "duplicate-length": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
}


@asynccontextmanager
async def raw_target() -> AsyncIterator[str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            name = line.split(b" ")[1].decode().strip("/")
            writer.write(RAW_RESPONSES[name])
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def run_against(url: str, name: str) -> RunResult:
    return await Runner().run(journey([
        {"name": "odd", "http": {"url": f"{url}/{name}"}, "expect": EXPECT,
         "extract": {"x": {"from": "body", "regex": "(.)", "group": 1}}},
        {"name": "json-extract", "http": {"url": f"{url}/{name}"}, "extract": {"y": "json.a"}},
    ], timeout="10s"))


def assert_targets_fault(result: RunResult) -> None:
    assert result.error_type != ErrorType.INTERNAL, result.error
    assert not result.agent_side, result.error
    for step in result.steps:
        assert step.error_type != ErrorType.INTERNAL, step.error
        assert not (step.error or "").startswith("internal error"), step.error
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")  # every sink writes UTF-8


@pytest.mark.parametrize("name", sorted(ODD))
async def test_an_odd_response_is_the_targets_fault(name: str) -> None:
    async with odd_target() as url:
        result = await run_against(url, name)
    assert_targets_fault(result)


@pytest.mark.parametrize("name", sorted(RAW_RESPONSES))
async def test_odd_bytes_on_the_wire_are_the_targets_fault(name: str) -> None:
    async with raw_target() as url:
        result = await run_against(url, name)
    assert_targets_fault(result)


@pytest.mark.parametrize("charset", ["utf8mb4", "binary", "none"])
async def test_an_unknown_charset_is_read_as_utf8_and_noted(charset: str) -> None:
    async with odd_target() as url:
        result = await Runner().run(journey([{"name": "get", "http": {"url": f"{url}/charset-{charset}"},
                                              "expect": ["status == 200", "body contains \"a\""]}]))
    assert result.outcome is Outcome.SUCCESS, result.error
    step = result.steps[0]
    assert step.notes and f"unknown charset '{charset}'" in step.notes[0]
    assert step.to_dict()["notes"] == list(step.notes)


async def test_an_unknown_charset_body_still_parses_as_json() -> None:
    async with odd_target() as url:
        result = await Runner().run(journey([{"name": "get", "http": {"url": f"{url}/charset-utf8mb4"},
                                              "expect": ["json.a == \"café\""]}]))
    assert result.passed, result.error


async def test_a_broken_encoding_is_an_invalid_response() -> None:
    async with odd_target() as url:
        result = await run_against(url, "gzip-wrong-header")
    assert result.outcome is Outcome.ERROR
    assert result.error_type == ErrorType.INVALID_RESPONSE
    assert result.error and result.error.startswith("invalid response")
