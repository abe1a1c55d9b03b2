"""A step's duration is the target's time, taken at the socket as curl takes `time_total`."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.journey.model import Step
from agent.journey.variables import Variables
from agent.probe.context import ProbeSettings, RunContext
from agent.probe.http import step as http_step
from agent.probe.http.session import _TRACE_CONFIG, new_session
from agent.probe.http.timed_socket import KERNEL_STAMPS, TimedSocket, timed_socket
from agent.probe.http.timing import TimedConnector, TimedResponseHandler
from agent.probe.result import Outcome
from tests.conftest import journey
from tests.targets import serve

DRIP_PAUSE_S = 0.15


def drip_app() -> web.Application:
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 4
        await response.prepare(request)
        await response.write(b"he")  # head and first half now, the rest after a pause
        await asyncio.sleep(DRIP_PAUSE_S)
        await response.write(b"re")
        await response.write_eof()
        return response

    async def delay(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0")))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/drip", drip)
    app.router.add_get("/delay", delay)
    return app


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async with serve(drip_app()) as url:
        yield url


def run_context(steps: list[dict[str, Any]], session: aiohttp.ClientSession | None = None) -> RunContext:
    ctx = RunContext(journey=journey(steps), variables=Variables(), trace_id="0" * 32,
                     deadline=asyncio.get_running_loop().time() + 30, settings=ProbeSettings())
    ctx.http = session
    return ctx


async def test_connections_carry_the_timed_protocol(base: str) -> None:
    """Fails first when an aiohttp upgrade stops building protocols from the connector's factory."""
    async with new_session(ProbeSettings()) as session, session.get(f"{base}/delay") as response:
        protocol = response.connection.protocol if response.connection else response._protocol  # type: ignore[attr-defined]
        await response.read()
    assert isinstance(protocol, TimedResponseHandler)
    assert protocol.last_byte_at > 0


async def test_agent_work_after_the_last_byte_is_not_the_targets_time(base: str) -> None:
    """The agent busy for 120 ms once the answer is in (a loaded loop): the step stays ~50 ms."""
    busy_s = 0.12

    async def busy(session: Any, ctx: Any, params: Any) -> None:
        time.sleep(busy_s)  # noqa: ASYNC251 - blocks the loop on purpose: the agent, not the target, is slow

    blocker = aiohttp.TraceConfig()
    blocker.on_request_end.append(busy)
    session = aiohttp.ClientSession(connector=TimedConnector(limit=0), trace_configs=[_TRACE_CONFIG, blocker])
    steps = [{"name": "get", "http": {"url": f"{base}/delay?s=0.05"}}]
    ctx = run_context(steps, session)
    started = time.perf_counter()
    try:
        result = await http_step.execute(ctx.journey.steps[0], ctx)
    finally:
        await ctx.aclose()
    wall = time.perf_counter() - started
    assert result.outcome is Outcome.SUCCESS, result.error
    assert wall >= 0.05 + busy_s
    assert 0.05 <= result.duration_s < 0.05 + busy_s / 2, result.duration_s
    assert result.phases is not None and result.phases.ttfb_s < 0.05 + busy_s / 2


async def test_a_dripping_body_shows_as_transfer_not_wait(base: str) -> None:
    step = Step.model_validate({"name": "drip", "http": {"url": f"{base}/drip"}, "expect": ["body == \"here\""]})
    ctx = run_context([step.model_dump(by_alias=True, exclude_unset=True)])
    try:
        result = await http_step.execute(step, ctx)
    finally:
        await ctx.aclose()
    assert result.outcome is Outcome.SUCCESS, result.error
    phases = result.phases
    assert phases is not None
    assert phases.transfer_s >= DRIP_PAUSE_S * 0.9
    assert phases.ttfb_s < DRIP_PAUSE_S / 2
    parts = phases.dns_s + phases.connect_s + phases.tls_s + phases.ttfb_s + phases.transfer_s
    assert result.duration_s == pytest.approx(parts)  # aiohttp's own time between the phases is left out


async def test_kept_alive_connection_counts_from_the_request(base: str) -> None:
    steps = [{"name": "first", "http": {"url": f"{base}/delay"}},
             {"name": "second", "http": {"url": f"{base}/delay?s=0.08"}}]
    ctx = run_context(steps)
    try:
        first = await http_step.execute(ctx.journey.steps[0], ctx)
        second = await http_step.execute(ctx.journey.steps[1], ctx)
    finally:
        await ctx.aclose()
    assert first.phases is not None and first.phases.connect_s > 0
    assert second.phases is not None and second.phases.connect_s == 0  # the connection was reused
    assert 0.08 <= second.duration_s < 0.08 + 0.05
    assert second.phases.ttfb_s >= 0.08


def test_handler_counts_only_real_bytes_and_one_first_byte_per_response() -> None:
    loop = asyncio.new_event_loop()
    try:
        handler = TimedResponseHandler(loop=loop)
        handler.data_received(b"")  # aiohttp's resume-decompression call: nothing arrived
        assert handler.first_byte_at == 0.0 and handler.last_byte_at == 0.0
        handler.data_received(b"HTTP/1.1 200 OK\r\n")
        first = handler.first_byte_at
        handler.data_received(b"Content-Length: 0\r\n\r\n")
        assert first > 0 and handler.last_byte_at >= first
        assert handler.take_first_byte() == first
        assert handler.first_byte_at == 0.0  # the next response gets its own first byte
    finally:
        loop.close()


SERVED: list[tuple[float, float]] = []


@pytest.fixture
def thread_target() -> Iterator[str]:
    """A raw HTTP/1.1 server in its own thread, answering after 80 ms: it keeps time while our loop is blocked.

    SERVED gets (accepted, answered) perf_counter moments of each connection: the target's own view."""
    SERVED.clear()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted = time.perf_counter()
            with conn:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                time.sleep(0.08)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                SERVED.append((accepted, time.perf_counter()))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=6)


@pytest.mark.skipif(not KERNEL_STAMPS, reason="kernel receive stamps are Linux's")
async def test_a_blocked_loop_does_not_stretch_the_targets_time(thread_target: str) -> None:
    """The loop is blocked from 20 to 220 ms, while the answer arrives at ~80 ms: the kernel's stamp says 80."""
    timed_socket((socket.AF_INET, socket.SOCK_STREAM, 0, "", ())).close()
    await asyncio.sleep(0.05)  # the kernel turns stamping on a moment after it is first asked
    loop = asyncio.get_running_loop()
    steps = [{"name": "get", "http": {"url": f"{thread_target}/"}, "expect": ["status == 200"]}]
    ctx = run_context(steps)
    started = time.perf_counter()
    loop.call_later(0.02, time.sleep, 0.2)
    try:
        result = await http_step.execute(ctx.journey.steps[0], ctx)
    finally:
        await ctx.aclose()
    assert result.outcome is Outcome.SUCCESS, result.error
    assert time.perf_counter() - started >= 0.2
    [(accepted, answered)] = SERVED
    # the step is the target's time (at least its 80 ms; at most what the target itself took, plus the
    # connect before its accept), never the 200 ms the agent's loop was blocked
    assert 0.08 <= result.duration_s < (answered - accepted) + 0.05, (result.duration_s, answered - accepted)


@pytest.mark.skipif(not KERNEL_STAMPS, reason="kernel receive stamps are Linux's")
def test_timed_socket_reads_the_kernels_arrival_stamp() -> None:
    timed_socket((socket.AF_INET, socket.SOCK_STREAM, 0, "", ())).close()
    time.sleep(0.05)  # the kernel turns stamping on a moment after it is first asked; it then stays on
    listener = socket.create_server(("127.0.0.1", 0))
    client = timed_socket((socket.AF_INET, socket.SOCK_STREAM, 0, "", ()))
    try:
        assert isinstance(client, TimedSocket)
        client.connect(listener.getsockname())
        server, _ = listener.accept()
        with server:
            client.send(b"GET / HTTP/1.1\r\n\r\n")
            sent = client.sent_at
            assert server.recv(100).startswith(b"GET")
            server.sendall(b"HTTP/1.1 200 OK\r\n")
            arrived = time.perf_counter()
            time.sleep(0.1)  # the bytes wait in the kernel
            assert client.recv(100) == b"HTTP/1.1 200 OK\r\n"
            assert sent - 0.001 <= client.received_at <= arrived + 0.01  # when they arrived, not when read
            server.sendall(b"rest")
            buffer = bytearray(16)
            assert client.recv_into(buffer) == 4 and bytes(buffer[:4]) == b"rest"
            assert client.received_at > arrived
    finally:
        client.close()
        listener.close()
