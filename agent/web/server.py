"""The daemon's HTTP server (aiohttp): health, readiness, the JSON API, /metrics and the status page."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agent.web.app_keys import LOGIN_PAGE_KEY, STATE_KEY
from agent.web.credentials import token_matches
from agent.web.state import AgentState
from agent.web.status_page.views import add_routes

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login"})
"""Paths that answer without the token: probes from a kubelet or load balancer (/readyz then tells
only whether the agent is ready; its reasons need the token) and the sign-in form."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
METRICS_CACHE_KEY: web.AppKey[dict[str, Any]] = web.AppKey("metrics_cache", dict)
METRICS_CACHE_S = 2.0


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, default=str), status=status, content_type="application/json",
                        headers={"X-Content-Type-Options": "nosniff"})


def _token_from(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("journeyprobe_token")


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[STATE_KEY].config.server.token
    if token and request.path not in OPEN_PATHS:
        given = _token_from(request)
        if not token_matches(given, token):
            login_page = request.app.get(LOGIN_PAGE_KEY)
            if login_page is None or not _is_page(request.path):
                return _json({"error": "missing or wrong bearer token"}, status=401)
            return await login_page(request, given is not None)
    return await handler(request)


def _is_page(path: str) -> bool:
    """Pages a person opens in a browser (they get the sign-in form); the rest is for machines."""
    return path == "/" or path.startswith(("/journeys/", "/artifacts/", "/static/"))


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    reasons = state.not_ready_reasons()
    status = 200 if not reasons else 503
    token = state.config.server.token
    if token and not token_matches(_token_from(request), token):
        return _json({"ready": not reasons}, status=status)  # open to probes: nothing more without the token
    body = {"ready": not reasons, "reasons": reasons, "journeys": len(state.journeys),
            "reload_errors": state.reload_errors}
    return _json(body, status=status)


async def list_journeys(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    last = await state.store.last_runs() if state.store else {}
    return _json([
        {"name": j.name, "description": j.description, "interval_s": j.interval, "labels": j.labels,
         "last_run": last.get(j.name)}
        for j in sorted(state.journeys.values(), key=lambda j: j.name)
    ])


async def journey_runs(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    name = request.match_info["name"]
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        return _json({"error": "limit must be a whole number"}, status=400)
    if not 1 <= limit <= 1000:
        return _json({"error": "limit must be between 1 and 1000"}, status=400)
    if state.store is None:
        return _json({"error": "the result store is not open"}, status=503)
    runs = await state.store.runs(name, limit)
    if not runs and name not in state.journeys:
        return _json({"error": f"no journey named {name!r}"}, status=404)
    return _json(runs)


async def slos(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if state.slo_status is None:
        return _json([])
    return _json(await state.slo_status())


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if state.metrics is None:
        return web.Response(status=404, text="the Prometheus exporter is off (exporters.prometheus: false)\n")
    body, content_type = await _render_metrics(request.app, state)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _render_metrics(app: web.Application, state: AgentState) -> tuple[bytes, str]:
    """Render off the event loop (thousands of series take a second of CPU), and let scrapes that
    come within METRICS_CACHE_S of each other (several Prometheus replicas) share one render."""
    assert state.metrics is not None
    cache = app[METRICS_CACHE_KEY]
    now = asyncio.get_running_loop().time()
    task: asyncio.Future[tuple[bytes, str]] | None = cache.get("task")
    if task is None or (task.done() and cache["at"] + METRICS_CACHE_S < now):
        task = asyncio.ensure_future(asyncio.to_thread(state.metrics))
        cache.update(task=task, at=now)
    return await asyncio.shield(task)


def create_app(state: AgentState) -> web.Application:
    app = web.Application(middlewares=[require_token], client_max_size=64 * 1024)
    app[STATE_KEY] = state
    app[METRICS_CACHE_KEY] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/journeys", list_journeys)
    app.router.add_get("/api/v1/journeys/{name}/runs", journey_runs)
    app.router.add_get("/api/v1/slos", slos)
    add_routes(app)
    return app


async def start_server(state: AgentState) -> tuple[web.AppRunner, str]:
    """Serve on `server.listen`; returns the runner and the base URL (port 0 picks a free one)."""
    runner = web.AppRunner(create_app(state), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    host, port = state.config.server.host_port
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None)
    real_port = sockets[0].getsockname()[1] if sockets else port
    return runner, f"http://{host}:{real_port}"
