"""Phase timings of HTTP requests (dns, connect, tls, ttfb, transfer) from aiohttp's TraceConfig.

aiohttp signals the DNS lookup and the connection as a whole, but not the TLS handshake on
its own. The handshake starts when asyncio wraps the connected socket in TLS, which it
does through `SSLContext.wrap_bio`; `TimedSSLContext` notes that moment for the request
under way (found through a context variable), which splits connect from tls.

A request's duration is the sum of its phases, each taken as close to the wire as it can be,
so that it is the target's and the network's time, as curl's `time_total` is: the connect
is the handshake's round trip as the kernel measured it (`timed_socket.handshake_rtt`), so a
loop held up by other work (a browser starting) does not lengthen it; `TimedResponseHandler`,
the protocol of `TimedConnector`'s connections, notes when response bytes arrive, from the
kernel's receive stamps where there are any (`timed_socket.TimedSocket`). The Python work in between (aiohttp
building the request after the connect, parsing the response, waking the step's task:
~1.5 ms on a 2-core machine, more when the loop is busy or the process was idle) is the
agent's, not the target's, and is left out.
"""

from __future__ import annotations

import contextvars
import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler
from yarl import URL

from agent.probe.http.timed_socket import TimedSocket, handshake_rtt, socket_of, timed_socket
from agent.probe.result import Phases

CLOCK_SLACK_S = 0.001  # kernel stamps come by the wall clock: tens of µs of jitter against perf_counter


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
    duration_s: float = 0.0  # set by `finish` once the whole response is in: the phases' sum
    _dns_start: float = 0.0
    _create_start: float = 0.0
    _dns_end: float = 0.0
    _tls_start: float = 0.0
    _connected: float = 0.0
    _sent: float = 0.0
    _first_byte: float = 0.0
    _protocol: TimedResponseHandler | None = None
    _sock: Any = None  # the socket being connected (new connections only)
    _rtt: float | None = None  # its handshake's round trip, from the kernel
    observed: object = None  # the request observer's own record of this request (telemetry's span)

    def phases(self) -> Phases:
        return Phases(self.dns_s, self.connect_s, self.tls_s, self.ttfb_s, self.transfer_s)

    def finish(self, read_started: float, read_finished: float) -> float:
        """Close the transfer phase once the body is read; the request's duration, curl's way."""
        end = read_finished
        protocol = self._protocol
        if protocol is not None and self._first_byte - CLOCK_SLACK_S <= protocol.last_byte_at <= read_finished:
            end = max(protocol.last_byte_at, self._first_byte)
        self.transfer_s = end - (self._first_byte or read_started)
        self.duration_s = self.dns_s + self.connect_s + self.tls_s + self.ttfb_s + self.transfer_s
        return self.duration_s


class TimedResponseHandler(ResponseHandler):
    """aiohttp's client protocol, noting when response bytes arrived."""

    first_byte_at = 0.0  # first byte since the last `take_first_byte`: one response's first byte
    last_byte_at = 0.0
    timed_socket: TimedSocket | None = None

    def connection_made(self, transport: Any) -> None:
        timing = _current.get()  # the request that opened the connection (its context is copied here)
        self.timed_socket = socket_of(transport)
        if timing is not None:
            timing._connected = time.perf_counter()
            if timing._rtt is None:  # plain TCP: nothing was sent yet, the handshake is the only sample
                timing._rtt = handshake_rtt(self.timed_socket or transport.get_extra_info("socket") or timing._sock)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if data:  # aiohttp calls it with b"" to resume decompression: no bytes arrived
            sock = self.timed_socket
            now = sock.received_at if sock is not None and sock.received_at else time.perf_counter()
            if not self.first_byte_at:
                self.first_byte_at = now
            self.last_byte_at = now
        super().data_received(data)

    def take_first_byte(self) -> float:
        first, self.first_byte_at = self.first_byte_at, 0.0
        return first

    def request_sent_at(self) -> float:
        """When the kernel was handed the latest request's first bytes (0 when unknown)."""
        return self.timed_socket.sent_at if self.timed_socket is not None else 0.0


class TimedConnector(aiohttp.TCPConnector):
    """A TCPConnector whose connections use `TimedResponseHandler` over `TimedSocket`s.

    aiohttp builds each connection's protocol with the connector's `_factory`; should a
    future aiohttp drop it, durations fall back to the step task's own clock
    (tests/test_http_timing.py fails first).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(socket_factory=_socket_factory, **kwargs)
        if hasattr(self, "_factory"):
            self._factory = functools.partial(TimedResponseHandler, loop=self._loop)  # type: ignore[assignment]


_current: contextvars.ContextVar[RequestTiming | None] = contextvars.ContextVar("request_timing",
                                                                                 default=None)


def _socket_factory(addr_info: tuple[Any, ...]) -> Any:
    """`timed_socket`, noted in the request under way so that its handshake can be read from the kernel."""
    sock = timed_socket(addr_info)
    timing = _current.get()
    if timing is not None:
        timing._sock = sock
    return sock


class TimedSSLContext(ssl.SSLContext):
    """An SSLContext that notes when a TLS handshake starts for the request under way."""

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        timing = _current.get()
        if timing is not None:
            timing._tls_start = time.perf_counter()
            if timing._rtt is None:  # before the first TLS byte: the handshake is the only sample
                timing._rtt = handshake_rtt(timing._sock)
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
        timing._dns_end = timing._tls_start = timing._connected = 0.0
        timing._sock, timing._rtt = None, None


async def _create_end(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is None:
        return
    now = time.perf_counter()
    connect_from = timing._dns_end or timing._create_start
    connected = timing._connected if connect_from <= timing._connected <= now else now
    seen = (timing._tls_start or connected) - connect_from  # as the event loop noticed it
    rtt = timing._rtt
    # the kernel's handshake time, unless the loop saw it faster (clocks) or it has none (a lost SYN)
    timing.connect_s += rtt if rtt is not None and rtt <= seen + CLOCK_SLACK_S else seen
    if timing._tls_start:
        timing.tls_s += connected - timing._tls_start
    timing._sent = now


async def _headers_sent(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is not None:
        timing._sent = time.perf_counter()  # aiohttp writes the buffered head right after this


async def _request_end(session: Any, ctx: SimpleNamespace, params: Any) -> None:
    if (timing := _timing(ctx)) is None:
        return
    now = time.perf_counter()
    protocol = _protocol_of(params.response)
    sent = protocol.request_sent_at() if protocol is not None else 0.0
    if not timing._sent <= sent <= now:  # aiohttp signals the head just before writing it
        sent = timing._sent
    first_byte = protocol.take_first_byte() if protocol is not None else 0.0
    if not sent - CLOCK_SLACK_S <= first_byte <= now:  # not this response's (or not timed): the task's clock
        first_byte = now
    first_byte = max(first_byte, sent)
    timing.ttfb_s += first_byte - sent
    timing._first_byte = first_byte
    timing._protocol = protocol


def response_protocol(response: aiohttp.ClientResponse) -> Any:
    """The protocol a response came over, also once aiohttp has released its connection."""
    connection = response.connection
    return connection.protocol if connection is not None else getattr(response, "_protocol", None)


def _protocol_of(response: aiohttp.ClientResponse) -> TimedResponseHandler | None:
    protocol = response_protocol(response)
    return protocol if isinstance(protocol, TimedResponseHandler) else None


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
