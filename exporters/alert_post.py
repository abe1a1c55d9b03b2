"""How alert senders talk HTTP: one JSON POST with a verdict on retrying, and RFC 3339 times."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from agent.probe.result import format_timestamp


class SendError(Exception):
    """A send that did not go through; `retryable` False for answers that will not change."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after



async def post_json(session: aiohttp.ClientSession, url: str, body: object,
                    headers: dict[str, str] | None = None) -> None:
    """POST a JSON body; raise SendError unless the answer is 2xx."""
    try:
        async with session.post(url, json=body, headers=headers or {}) as response:
            if 200 <= response.status < 300:
                await response.read()
                return
            text = (await response.text(errors="replace"))[:200]
            retry_after = _retry_after(response.headers.get("Retry-After"))
            retryable = response.status in (408, 425, 429) or response.status >= 500
            raise SendError(f"{url} answered {response.status}: {text}", retryable=retryable,
                            retry_after=retry_after)
    except (aiohttp.ClientError, OSError) as exc:
        raise SendError(f"{url}: {type(exc).__name__}: {exc}") from exc


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def rfc3339(t: float | None) -> str | None:
    return None if t is None else format_timestamp(datetime.fromtimestamp(t, tz=UTC))
