"""Typed keys of what the server's aiohttp application holds, shared by the API and the status page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from agent.web.state import AgentState

LoginPage = Callable[[web.Request, bool], Awaitable[web.StreamResponse]]
STATE_KEY: web.AppKey[AgentState] = web.AppKey("state", AgentState)
LOGIN_PAGE_KEY: web.AppKey[LoginPage] = web.AppKey("login_page")
