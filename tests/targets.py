"""A real aiohttp target server for the tests: JSON, redirects, cookies, slowness, hangs, floods."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Seen:
    """What the target received, for assertions."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    body_bytes_sent: int = 0
    """Bytes of /huge bodies the server got to write (a client that stops reading stops it early)."""

    def headers(self, path: str) -> list[dict[str, str]]:
        return [r["headers"] for r in self.requests if r["path"] == path]


def target_app(seen: Seen) -> web.Application:
    forever = asyncio.Event()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        seen.requests.append({"path": request.path, "method": request.method, "headers": dict(request.headers),
                              "query": dict(request.query), "body": body.decode(errors="replace")})
        return await handler(request)

    async def json_doc(request: web.Request) -> web.Response:
        return web.json_response({"items": [{"sku": "ABC-1", "qty": 2}], "token": "tok-123", "total": 25.0})

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status page")

    async def redirect(request: web.Request) -> web.Response:
        left = int(request.match_info["n"])
        if left <= 0:
            return web.Response(text="arrived")
        raise web.HTTPFound(f"/redirect/{left - 1}")

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        response.set_cookie("session", "abc123")
        return response

    async def need_cookie(request: web.Request) -> web.Response:
        if request.cookies.get("session") != "abc123":
            return web.json_response({"error": "no session"}, status=401)
        return web.json_response({"user": "demo"})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "1")))
        return web.Response(text="finally")

    async def hang(request: web.Request) -> web.Response:
        await forever.wait()
        return web.Response(text="never")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(int(request.query.get("chunks", "160"))):  # 10 MiB by default
            await response.write(chunk)
            seen.body_bytes_sent += len(chunk)
        await response.write_eof()
        return response

    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        return web.json_response({"headers": dict(request.headers), "query": dict(request.query), "body": body,
                                  "method": request.method})

    async def echo_body(request: web.Request) -> web.Response:
        return web.Response(text=await request.text())

    async def reset(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(1)
        return web.Response(text="never")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Order total: 42</body></html>", content_type="text/html")

    app = web.Application(middlewares=[record])
    app.router.add_get("/json", json_doc)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect/{n}", redirect)
    app.router.add_get("/set-cookie", set_cookie)
    app.router.add_get("/need-cookie", need_cookie)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hang", hang)
    app.router.add_get("/huge", huge)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/reset", reset)
    app.router.add_post("/echo-body", echo_body)
    app.router.add_get("/html", html)
    return app


@asynccontextmanager
async def serve(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 at a free port; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
