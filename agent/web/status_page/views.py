"""The status page's routes on the daemon's aiohttp app: /, /journeys/{name}, /artifacts/..., /login.

Pages are server-rendered HTML without any script; they refresh themselves every 30 s.
Store reads run on the store's reader thread; rendering is light enough for the loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.web.app_keys import LOGIN_PAGE_KEY, STATE_KEY
from agent.web.credentials import token_matches
from agent.web.state import AgentState
from agent.web.status_page import render
from agent.web.status_page.data import build_overview, slo_entries_from_store
from agent.web.status_page.journey import build_journey_page
from agent.web.status_page.text import time_text

REFRESH_S = 30
COOKIE = "journeyprobe_token"
COOKIE_MAX_AGE = 30 * 86400
FALLBACK_TTL_S = 15.0
_FALLBACK_KEY: web.AppKey[dict[str, Any]] = web.AppKey("status_page_slo_cache", dict)
_INLINE = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webm": "video/webm"}
SECURITY_HEADERS = {
    "Content-Security-Policy": render.HEADER_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(template: str, status: int = 200, **context: Any) -> web.Response:
    """An HTML response with the security headers."""
    body = render.render_html(template, **context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers=SECURITY_HEADERS)


def _signed_in(state: AgentState) -> bool:
    return bool(state.config.server.token)


async def slo_entries(request: web.Request, now: float) -> list[dict[str, Any]]:
    """The `/api/v1/slos` list: the SLO service's when it runs, else computed from the store (cached)."""
    state = request.app[STATE_KEY]
    if state.slo_status is not None:
        return list(await state.slo_status())
    if state.store is None or not any(j.slos for j in state.journeys.values()):
        return []
    cache = request.app[_FALLBACK_KEY]
    if cache.get("at", 0.0) + FALLBACK_TTL_S < now or cache.get("journeys") is not state.journeys:
        cache["entries"] = await slo_entries_from_store(state.store, list(state.journeys.values()), now,
                                                        state.config.location)
        cache["at"], cache["journeys"] = now, state.journeys
    return list(cache["entries"])


async def overview(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    now = state.clock()
    entries = await slo_entries(request, now)
    model = await build_overview(state.store, state.journeys, entries, now, location=state.config.location)
    return page("overview.html", o=model, refresh=REFRESH_S, static=False, signed_in=_signed_in(state))


async def journey(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    name = request.match_info["name"]
    now = state.clock()
    known = state.journeys.get(name)
    if known is None and (state.store is None or not await state.store.runs(name, 1)):
        return page("not_found.html", status=404, message=f"No journey is named {name!r}.", refresh=0,
                    static=False, signed_in=_signed_in(state))
    entries = await slo_entries(request, now)
    model = await build_journey_page(state.store, name, known, state.journeys, entries, now,
                                     artifacts_root=state.config.artifacts)
    return page("journey.html", p=model, updated=time_text(now), refresh=REFRESH_S, static=False,
                signed_in=_signed_in(state))


def locate_artifact(root: str, relative: str) -> Path | None:
    """The file `relative` names inside `root`, or None: outside it (.., absolute, symlink), or absent."""
    try:
        base = Path(root).resolve()
        target = (base / relative).resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    if target == base or not target.is_relative_to(base) or not target.is_file():
        return None
    return target


async def artifact(request: web.Request) -> web.StreamResponse:
    """A screenshot or trace archive kept from a run; only from inside the artifacts folder."""
    state = request.app[STATE_KEY]
    path = await asyncio.to_thread(locate_artifact, state.config.artifacts, request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound(text="no such artifact\n")
    content_type = _INLINE.get(path.suffix.lower())
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    if content_type is None:
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        headers["Content-Type"] = "application/octet-stream"
    else:
        headers["Content-Type"] = content_type
    return web.FileResponse(path, headers=headers)


async def login_page(request: web.Request, failed: bool) -> web.StreamResponse:
    """What the token middleware serves instead of a page when the cookie is missing or wrong."""
    return page("login.html", status=401, failed=failed, refresh=0, static=False, signed_in=False)


async def login_form(request: web.Request) -> web.StreamResponse:
    if not request.app[STATE_KEY].config.server.token:
        raise web.HTTPSeeOther("/")
    return page("login.html", failed=False, refresh=0, static=False, signed_in=False)


async def login(request: web.Request) -> web.StreamResponse:
    """Check the posted token; on success keep it in an HttpOnly, SameSite=Strict cookie."""
    token = request.app[STATE_KEY].config.server.token
    if not token:
        raise web.HTTPSeeOther("/")
    try:
        form = await request.post()
    except ValueError:  # a form that is not UTF-8 (UnicodeDecodeError) or not a form: no token given
        return await login_page(request, True)
    given = form.get("token")
    if not isinstance(given, str) or not token_matches(given, token):
        return await login_page(request, True)
    response = web.HTTPSeeOther("/", headers={"Cache-Control": "no-store"})
    response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE, path="/", httponly=True, samesite="Strict",
                        secure=request.secure)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/login" if request.app[STATE_KEY].config.server.token else "/")
    response.del_cookie(COOKIE, path="/")
    raise response


def add_routes(app: web.Application) -> None:
    """Called by `agent.web.server.create_app`: the pages, the artifacts and the sign-in."""
    render.warm()
    app[_FALLBACK_KEY] = {}
    app[LOGIN_PAGE_KEY] = login_page
    app.router.add_get("/", overview)
    app.router.add_get("/journeys/{name}", journey)
    app.router.add_get("/artifacts/{path:.+}", artifact)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
