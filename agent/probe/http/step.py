"""The `http:` step: one request with aiohttp, a capped body, expectations and extraction."""

from __future__ import annotations

import asyncio
import errno
import ssl
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from agent.core import redaction
from agent.expect.response import ResponseView, body_decoder
from agent.journey.model import HttpRequest, Step
from agent.journey.variables import TemplateRenderError
from agent.probe.context import RunContext, StepError
from agent.probe.faults import exception_text
from agent.probe.http.judge import judge
from agent.probe.http.session import run_session, ssl_context
from agent.probe.http.timing import RequestTiming, response_protocol
from agent.probe.result import ErrorType, Outcome, StepResult
from agent.probe.trace_context import new_span_id

CHUNK = 64 * 1024


async def execute(step: Step, ctx: RunContext) -> StepResult:
    request = step.http
    assert request is not None
    timing = RequestTiming(on_request=_request_hook(ctx))
    started = time.perf_counter()
    status: int | None = None
    try:
        kwargs = _request_arguments(request, ctx)
        session = run_session(ctx)
        started = time.perf_counter()
        async with session.request(request.method, trace_request_ctx=timing, **kwargs) as response:
            status = response.status
            received = await _receive(response, request.max_body, timing)
        _notify(ctx, timing, status, None)
    except StepError as exc:
        _notify(ctx, timing, status, exc.error_type)
        return _failed(step, started, timing, status, Outcome.ERROR, str(exc), exc.error_type)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        error_type, message = classify(exc)
        _notify(ctx, timing, status, error_type)
        return _failed(step, started, timing, status, Outcome.ERROR, message, error_type)
    except (TimeoutError, asyncio.CancelledError):
        _notify(ctx, timing, status, ErrorType.TIMEOUT)
        raise
    view, size, duration, notes = received
    try:
        verdict = await judge(step, view, size)
    except StepError as exc:
        return StepResult(step.name, Outcome.ERROR, duration, kind="http", status=status, error=str(exc),
                          error_type=exc.error_type, phases=timing.phases(), notes=notes)
    if verdict.failures:
        return StepResult(step.name, Outcome.FAILURE, duration, kind="http", status=status,
                          error=verdict.failures[0], error_type=ErrorType.ASSERTION, phases=timing.phases(),
                          expectations=verdict.failures, notes=notes)
    for name, value in verdict.extracted.items():
        ctx.variables.set(name, value)
    return StepResult(step.name, Outcome.SUCCESS, duration, kind="http", status=status, phases=timing.phases(),
                      notes=notes)


async def _receive(response: aiohttp.ClientResponse, max_body: int,
                   timing: RequestTiming) -> tuple[ResponseView, int, float, tuple[str, ...]]:
    """The response as the expectations see it, its body's size, its duration and notes on what was
    worked around.

    Reading stops at `max_body`; a body that cannot be read as sent (bad encoding, truncated, a
    charset nobody knows) is the target's fault: a StepError, or a note when it could still be read."""
    notes: list[str] = []
    cert_days = _cert_expires_in_days(response, notes)
    body_started = time.perf_counter()
    try:
        raw = await _read_capped(response, max_body)
    except (StepError, aiohttp.ClientError, OSError, TimeoutError, asyncio.CancelledError):
        raise
    except Exception as exc:  # a decoder of the body's Content-Encoding choked on what was sent
        raise StepError(f"invalid response: could not read the body: {exception_text(exc)}",
                        ErrorType.INVALID_RESPONSE) from None
    duration = timing.finish(body_started, time.perf_counter())
    decode, note = body_decoder(response.charset if _has_charset(response) else None)
    if note:
        notes.append(note)
    # the body's bytes; decoded to text once, if and when an expectation or an extraction reads it
    view = ResponseView(status=response.status, duration_s=duration, body=raw, headers=response.headers,
                        cert_expires_in_days=cert_days, decode=decode)
    return view, len(raw), duration, tuple(notes)


def _has_charset(response: aiohttp.ClientResponse) -> bool:
    try:
        return bool(response.charset)
    except Exception:  # a Content-Type header aiohttp cannot parse
        return False


def _failed(step: Step, started: float, timing: RequestTiming, status: int | None, outcome: Outcome,
            message: str, error_type: ErrorType) -> StepResult:
    return StepResult(step.name, outcome, time.perf_counter() - started, kind="http", status=status,
                      error=message, error_type=error_type, phases=timing.phases())


def _request_hook(ctx: RunContext) -> Any:
    def on_request(timing: RequestTiming, params: aiohttp.TraceRequestStartParams) -> None:
        if ctx.observer is not None:
            ctx.observer.request_started(timing, params.method, str(params.url), params.headers)
        elif ctx.journey.traceparent:
            span_id = new_span_id()
            params.headers["traceparent"] = f"00-{ctx.trace_id}-{span_id}-01"
            if ctx.settings.tracestate:
                params.headers["tracestate"] = ctx.settings.tracestate
    return on_request


def _notify(ctx: RunContext, timing: RequestTiming, status: int | None, error_type: str | None) -> None:
    if ctx.observer is not None and timing.hops:
        ctx.observer.request_finished(timing, status, error_type)


def _request_arguments(request: HttpRequest, ctx: RunContext) -> dict[str, Any]:
    try:
        url = URL(ctx.variables.render(request.url))
        if url.scheme not in ("http", "https") or not url.host:
            raise StepError(f"invalid URL {str(url)!r}: needs http:// or https:// and a host",
                            ErrorType.TEMPLATE)
        kwargs: dict[str, Any] = {
            "url": url,
            "headers": {k: ctx.variables.render(v) for k, v in request.headers.items()},
            "allow_redirects": request.follow_redirects,
            "max_redirects": max(request.max_redirects, 1),
        }
        if url.scheme == "https" or not request.verify_tls:
            kwargs["ssl"] = ssl_context(request.verify_tls)
        if request.query:
            kwargs["params"] = {k: ctx.variables.render(v) for k, v in request.query.items()}
        if request.json_body is not None:
            kwargs["json"] = ctx.variables.render_value(request.json_body)
        elif request.body is not None:
            kwargs["data"] = ctx.variables.render(request.body).encode()
        elif request.form is not None:
            kwargs["data"] = {k: ctx.variables.render(v) for k, v in request.form.items()}
        if request.basic_auth is not None:
            kwargs["headers"]["Authorization"] = aiohttp.helpers.encode_basic_auth(
                *ctx.variables.basic_auth(request.basic_auth.username, request.basic_auth.password))
    except TemplateRenderError as exc:
        raise StepError(str(exc), ErrorType.TEMPLATE) from None
    return kwargs


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytearray:
    """Read at most `limit` bytes of the body; a longer body is an error, never read to the end.

    The body costs its own size: chunks go straight into one buffer (sized up front when the length
    is declared), never a list of chunks joined into a second copy."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise StepError(f"response body of {declared} bytes exceeds max_body ({limit} bytes)",
                        ErrorType.BODY_TOO_LARGE)
    body = bytearray(declared or 0)  # a compressed body is inflated: then it grows past `declared`
    size = 0
    while True:
        chunk = await response.content.read(CHUNK)
        if not chunk:
            del body[size:]
            return body
        end = size + len(chunk)
        if end > limit:
            response.close()
            raise StepError(f"response body exceeds max_body ({limit} bytes); raise http.max_body to read more",
                            ErrorType.BODY_TOO_LARGE)
        body[size:end] = chunk
        size = end


def _cert_expires_in_days(response: aiohttp.ClientResponse, notes: list[str]) -> float | None:
    transport = getattr(response_protocol(response), "transport", None)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    try:
        expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    except Exception as exc:  # a certificate the TLS layer took but cryptography cannot read
        notes.append(f"the server's certificate could not be read ({exception_text(exc)}): "
                     "cert.expires_in is absent")
        return None
    return (expires - datetime.now(UTC)).total_seconds() / 86400


def classify(exc: BaseException) -> tuple[ErrorType, str]:
    """The error type and a readable message of a failed request."""
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ErrorType.TOO_MANY_REDIRECTS, f"too many redirects (last: {exc.request_info.real_url})"
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError)):
        return ErrorType.TLS, f"TLS error: {_reason(exc)}"
    dns_error = getattr(aiohttp, "ClientConnectorDNSError", None)
    if dns_error is not None and isinstance(exc, dns_error):
        return ErrorType.DNS, f"DNS lookup failed: {_reason(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
            return ErrorType.CONNECTION_REFUSED, f"connection refused by {exc.host}:{exc.port}"
        return ErrorType.CONNECTION_REFUSED, f"could not connect to {exc.host}:{exc.port}: {_reason(exc)}"
    if isinstance(exc, (aiohttp.ServerDisconnectedError, ConnectionResetError)):
        return ErrorType.CONNECTION_RESET, "the server closed the connection before answering"
    if isinstance(exc, aiohttp.ClientOSError):
        return ErrorType.CONNECTION_RESET, f"connection failed: {_reason(exc)}"
    if isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        return ErrorType.INVALID_RESPONSE, f"invalid response: {_reason(exc)}"
    if isinstance(exc, aiohttp.InvalidURL):
        return ErrorType.TEMPLATE, f"invalid URL: {exc}"
    if isinstance(exc, OSError):
        return ErrorType.CONNECTION_RESET, f"network error: {_reason(exc)}"
    return ErrorType.INVALID_RESPONSE, f"invalid response: {exception_text(exc)}"


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "os_error", None) or getattr(exc, "certificate_error", None) or exc
    text = str(cause).strip() or exception_text(cause)
    return redaction.cut(text, 300)
