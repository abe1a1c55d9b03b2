"""The aiohttp client session of one run: its own cookie jar, connector and trace hooks."""

from __future__ import annotations

from functools import lru_cache

import aiohttp

from agent.probe.context import ProbeSettings, RunContext
from agent.probe.http.timing import TimedConnector, make_ssl_context, make_trace_config

_TRACE_CONFIG = make_trace_config()


@lru_cache(maxsize=2)
def ssl_context(verify: bool) -> object:
    """Shared client TLS contexts: loading the CA store once, not once per run."""
    return make_ssl_context(verify)


def new_session(settings: ProbeSettings) -> aiohttp.ClientSession:
    # TLS contexts are chosen per request (steps/http.py); loading the CA store costs ~20 ms,
    # which an http-only `check` need not pay.
    connector = TimedConnector(limit=0, use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for 127.0.0.1 too, as a browser keeps them
        trace_configs=[_TRACE_CONFIG],
        headers={"User-Agent": settings.user_agent},
        auto_decompress=True,
        timeout=aiohttp.ClientTimeout(total=None),  # deadlines come from the runner
        raise_for_status=False,
    )


def run_session(ctx: RunContext) -> aiohttp.ClientSession:
    """The run's one client session (cookies carry from step to step, as in a browser)."""
    if ctx.http is None:
        ctx.http = new_session(ctx.settings)
    return ctx.http
