"""Phase timings of HTTP requests (dns, connect, tls, ttfb, transfer) from aiohttp's TraceConfig.

aiohttp signals the DNS lookup and the connection as a whole, but not the TLS handshake on
its own. The handshake starts when asyncio wraps the connected socket in TLS, which it
does through `SSLContext.wrap_bio`; `TimedSSLContext` notes that moment for the request
under way (found through a context variable), which splits connect from tls.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from agent.result import Phases


@dataclass(slots=True)
class RequestTiming:
    """Timestamps (perf_counter) of one logical request, summed over its redirects."""

    on_request: Callable[[RequestTiming, aiohttp.TraceRequestStartParams], None] | None = None
    dns_s: float = 0.0
    connect_s: float = 0.0
    tls_s: float = 0.0
    ttfb_s: float = 0.0
    transfer_s: float = 0.0
    hops: int = 0
    first_start: float = 0.0  # when aiohttp began the first hop: the request as the network sees it
    _dns_start: float = 0.0
    _create_start: float = 0.0
    _dns_end: float = 0.0
    _tls_start: float = 0.0
    _sent: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)

    def phases(self) -> Phases:
        return Phases(self.dns_s, self.connect_s, self.tls_s, self.ttfb_s, self.transfer_s)


_current: contextvars.ContextVar[RequestTiming | None] = contextvars.ContextVar("request_timing",
                                                                                 default=None)


class TimedSSLContext(ssl.SSLContext):
    """An SSLContext that notes when a TLS handshake starts for the request under way."""

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        timing = _current.get()
        if timing is not None:
            timing._tls_start = time.perf_counter()
        return super().wrap_bio(*args, **kwargs)


def make_ssl_context(verify: bool) -> ssl.SSLContext:
    """A client context with the system's CAs (SSL_CERT_FILE applies); no checks when not verifying."""
    context = TimedSSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _timing(ctx: SimpleNamespace) -> RequestTiming | None:
    timing = ctx.trace_request_ctx
    return timing if isinstance(timing, RequestTiming) else None


async def _request_start(session: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
    timing = _timing(ctx)
    if timing is None:
        return
    _current.set(timing)
    timing.hops += 1
    timing._sent = time.perf_counter()
    if not timing.first_start:
        timing.first_start = timing._sent
    if timing.on_request is not None:
        timing.on_request(timing, params)


async def _dns_start(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is not None:
        timing._dns_start = time.perf_counter()


async def _dns_end(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is not None:
        timing._dns_end = time.perf_counter()
        timing.dns_s += timing._dns_end - timing._dns_start


async def _create_start(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is not None:
        timing._create_start = time.perf_counter()
        timing._dns_end = timing._tls_start = 0.0


async def _create_end(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is None:
        return
    now = time.perf_counter()
    connect_from = timing._dns_end or timing._create_start
    if timing._tls_start:
        timing.connect_s += timing._tls_start - connect_from
        timing.tls_s += now - timing._tls_start
    else:
        timing.connect_s += now - connect_from
    timing._sent = now


async def _headers_sent(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is not None:
        timing._sent = time.perf_counter()


async def _request_end(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is not None:
        timing.ttfb_s += time.perf_counter() - timing._sent


async def _request_redirect(session: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestRedirectParams) -> None:
    """A redirect ends one hop and starts the next, which gets its own span id (same headers object)."""
    timing = _timing(ctx)
    if timing is None:
        return
    await _request_end(session, ctx, params)
    location = params.response.headers.get("Location")
    if location is None:
        return
    status, method = params.response.status, params.method
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    next_hop = aiohttp.TraceRequestStartParams(method, params.url.join(URL(location)), params.headers)
    await _request_start(session, ctx, next_hop)


def make_trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_request_start)
    config.on_dns_resolvehost_start.append(_dns_start)
    config.on_dns_resolvehost_end.append(_dns_end)
    config.on_connection_create_start.append(_create_start)
    config.on_connection_create_end.append(_create_end)
    config.on_request_headers_sent.append(_headers_sent)
    config.on_request_end.append(_request_end)
    config.on_request_redirect.append(_request_redirect)
    return config
