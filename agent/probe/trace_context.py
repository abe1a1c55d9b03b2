"""W3C Trace Context ids for probe requests (https://www.w3.org/TR/trace-context/)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

SYNTHETIC_TRACESTATE = "journeyprobe=synthetic"


def new_trace_id() -> str:
    """32 lower-case hex digits, never all zero."""
    while True:
        value = secrets.token_hex(16)
        if value != "0" * 32:
            return value


def new_span_id() -> str:
    while True:
        value = secrets.token_hex(8)
        if value != "0" * 16:
            return value


@dataclass(frozen=True, slots=True)
class SpanContext:
    trace_id: str
    span_id: str
    sampled: bool = True

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(header: str) -> SpanContext | None:
    """The trace and parent ids of a `traceparent` header, or None when malformed."""
    parts = header.strip().split("-")
    if len(parts) < 4 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if parts[1] == "0" * 32 or parts[2] == "0" * 16:
        return None
    return SpanContext(parts[1], parts[2], sampled=bool(int(parts[3], 16) & 1))
