"""A real OTLP/HTTP receiver for the tests: POST /v1/metrics and /v1/traces, protobuf, gzip or not.

It decodes what it gets with opentelemetry-proto and keeps it. `mode` makes it answer
normally ("ok"), with HTTP 500 ("error"), or never ("hang").
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Receiver:
    """What an OTLP/HTTP receiver got, and how it answers."""

    mode: str = "ok"
    encoding: str | None = None
    """The Content-Encoding every request must carry ("gzip", "" for none); None accepts either."""
    url: str = ""
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _got: asyncio.Event = field(default_factory=asyncio.Event)

    # -- views for assertions -----------------------------------------------------------------------
    def spans(self) -> list[Any]:
        return [span for request in self.traces for rs in request.resource_spans
                for ss in rs.scope_spans for span in ss.spans]

    def metric_list(self) -> list[tuple[Any, Any]]:
        """(resource, metric) of every metric received, in order."""
        return [(rm.resource, metric) for request in self.metrics for rm in request.resource_metrics
                for sm in rm.scope_metrics for metric in sm.metrics]

    def latest(self, name: str) -> Any | None:
        """The last received metric of that name."""
        found = [m for _, m in self.metric_list() if m.name == name]
        return found[-1] if found else None

    def points(self, name: str) -> list[Any]:
        metric = self.latest(name)
        if metric is None:
            return []
        kind = metric.WhichOneof("data")
        return list(getattr(metric, kind).data_points)

    async def wait_for(self, predicate: Any, within: float = 10.0) -> None:
        """Wait until `predicate(self)` holds; fail after `within` seconds."""
        async with asyncio.timeout(within):
            while not predicate(self):
                self._got.clear()
                try:
                    await asyncio.wait_for(self._got.wait(), 0.2)
                except TimeoutError:
                    pass


def attributes(item: Any) -> dict[str, Any]:
    """The attributes of a proto span, data point or resource as a plain dict."""
    out: dict[str, Any] = {}
    for kv in item.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind else None
    return out


def _decode(body: bytes, encoding: str) -> bytes:
    """The protobuf of a request body; ValueError when the body does not match its Content-Encoding.

    aiohttp inflates a gzip or deflate body itself when it can; inflate it here if it did not."""
    if encoding == "gzip":
        return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return body
    if encoding:
        raise ValueError(f"unknown Content-Encoding {encoding!r}")
    if body[:2] == b"\x1f\x8b":
        raise ValueError("a gzip body without Content-Encoding: gzip")
    return body


def receiver_app(receiver: Receiver) -> web.Application:
    forever = asyncio.Event()

    async def handle(request: web.Request, kind: str) -> web.Response:
        encoding = request.headers.get("Content-Encoding", "")
        if receiver.encoding is not None and encoding != receiver.encoding:
            receiver.rejected.append(f"Content-Encoding {encoding!r}, expected {receiver.encoding!r}")
            return web.Response(status=415, text="unexpected Content-Encoding")
        try:
            body = _decode(await request.read(), encoding)
        except (ValueError, OSError, aiohttp.ClientPayloadError) as exc:
            receiver.rejected.append(str(exc))
            return web.Response(status=400, text=f"body does not match its Content-Encoding: {exc}")
        receiver.requests.append({"path": request.path, "headers": dict(request.headers), "size": len(body)})
        if receiver.mode == "hang":
            await forever.wait()
        if receiver.mode == "error":
            return web.Response(status=500, text="receiver told to fail")
        if kind == "metrics":
            metrics = ExportMetricsServiceRequest()
            metrics.ParseFromString(body)
            receiver.metrics.append(metrics)
            answer = ExportMetricsServiceResponse().SerializeToString()
        else:
            traces = ExportTraceServiceRequest()
            traces.ParseFromString(body)
            receiver.traces.append(traces)
            answer = ExportTraceServiceResponse().SerializeToString()
        receiver._got.set()
        return web.Response(body=answer, content_type="application/x-protobuf")

    async def metrics(request: web.Request) -> web.Response:
        return await handle(request, "metrics")

    async def traces(request: web.Request) -> web.Response:
        return await handle(request, "traces")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/metrics", metrics)
    app.router.add_post("/v1/traces", traces)
    return app


@asynccontextmanager
async def otlp_receiver(mode: str = "ok", *, encoding: str | None = None) -> AsyncIterator[Receiver]:
    """An OTLP/HTTP receiver on 127.0.0.1 at a free port; `receiver.url` is its base URL.

    With `encoding`, a request with another Content-Encoding is refused (415)."""
    receiver = Receiver(mode=mode, encoding=encoding)
    runner = web.AppRunner(receiver_app(receiver), shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr,attr-defined]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def iter_exemplars(point: Any) -> Iterator[Any]:
    yield from point.exemplars
