"""Whose fault an exception is, and how it reads in a step result.

A step that raises while handling a target's response (decoding, parsing, checking expectations,
taking a failure screenshot) failed because of what the target sent: the step ends as an error of
the target (`invalid_response`), never as the agent's own `internal` error, which would drop it
from SLOs. Only what the runner's last-resort catch sees is the agent's fault.
"""

from __future__ import annotations

MESSAGE_LIMIT = 300


def exception_text(exc: BaseException, limit: int = MESSAGE_LIMIT) -> str:
    """`Type: first line of the message`, or the type alone when the message is empty; never raises."""
    name = type(exc).__name__
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # a __str__ that fails is still an exception worth naming
        lines = []
    first = lines[0].strip() if lines else ""
    text = f"{name}: {first}" if first and not first.startswith(name) else (first or name)
    return text if len(text) <= limit else text[:limit - 1] + "…"
