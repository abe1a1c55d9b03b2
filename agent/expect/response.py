"""What an http step saw of its response, as expectations and extractions read it.

The body stays the bytes that were received for as long as nothing needs it as text: `contains`,
`matches` and `json.*` read valid UTF-8 bytes directly, so a large body costs about its own size once,
not once as bytes and again as text (docs/journeys.md, "Limits").
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from agent.core import jsonfast

__all__ = ["MISSING", "ResponseView", "body_decoder"]


class _Missing:
    """The type of MISSING: what an absent subject resolves to."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def _utf8(data: bytes | bytearray) -> str:
    return data.decode("utf-8", errors="replace")


_CHECKED_AT_A_TIME = 64 * 1024


def _is_utf8(data: bytes | bytearray) -> bool:
    """Whether `data` is valid UTF-8, checked a slice at a time (no text copy of the whole body)."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(view), _CHECKED_AT_A_TIME):
            decoder.decode(view[start:start + _CHECKED_AT_A_TIME])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


class ResponseView:
    """What a step saw of its response.

    The body may be given as bytes: it is decoded to text on first use (by `decode`; UTF-8 with
    replacement by default), once, and the bytes are let go then. Until then a UTF-8 body can be
    searched and parsed as bytes (`utf8_bytes`): a step whose expectations look only at the status,
    headers, duration, certificate, a substring, a regex or JSON never pays for a text copy of it.
    """

    __slots__ = ("_decode", "_json", "_raw", "_text", "_utf8_valid", "cert_expires_in_days", "duration_s", "headers",
                 "status")

    def __init__(self, status: int | None, duration_s: float, body: str | bytes | bytearray,
                 headers: Mapping[str, str], cert_expires_in_days: float | None = None, *,
                 decode: Callable[[bytes | bytearray], str] | None = None) -> None:
        self.status = status
        self.duration_s = duration_s
        self.headers = headers
        self.cert_expires_in_days = cert_expires_in_days
        self._text: str | None = body if isinstance(body, str) else None
        self._raw: bytes | bytearray | None = None if isinstance(body, str) else body
        self._decode = decode
        self._json: list[Any] = []
        self._utf8_valid: bool | None = None

    @property
    def body(self) -> str:
        """The body as text (decoded now if it came as bytes)."""
        if self._text is None:
            raw = self._raw if self._raw is not None else b""
            self._text = self._decode(raw) if self._decode is not None else _utf8(raw)
            self._raw = None
        return self._text

    def utf8_bytes(self) -> bytes | bytearray | None:
        """The body's bytes while it is still undecoded, read as UTF-8 and valid UTF-8; else None (use
        `body`: undecodable bytes become U+FFFD in the text, and the checks must see what it shows)."""
        if self._raw is None or self._text is not None or self._decode not in (None, _utf8):
            return None
        if self._utf8_valid is None:
            self._utf8_valid = _is_utf8(self._raw)
        return self._raw if self._utf8_valid else None

    def json(self) -> Any:
        """The body parsed as JSON (once); MISSING when it is not JSON."""
        if not self._json:
            self._json.append(self._parse_json())
        return self._json[0]

    def _parse_json(self) -> Any:
        raw = self.utf8_bytes()
        if raw is not None:
            try:
                return jsonfast.loads_utf8(raw)
            except (ValueError, RecursionError):
                pass  # the standard library decides, on the text (NaN, a huge integer, invalid UTF-8)
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return MISSING

    def header(self, name: str) -> str | None:
        """The header's value, found case-insensitively; repeated values joined with ', '."""
        wanted = name.lower()
        values = [value for key, value in self.headers.items() if key.lower() == wanted]
        return ", ".join(values) if values else None


def body_decoder(charset: str | None) -> tuple[Callable[[bytes | bytearray], str], str | None]:
    """How to read a body in its declared charset (UTF-8 when none), undecodable bytes replaced.

    A charset Python cannot decode with (`utf8mb4`, `binary`, `none`, a codec that is not a text
    encoding or cannot replace) is the target's choice, not an error: the body is read as UTF-8
    with replacement characters, and the second item is a note that says so. Nothing is decoded
    here: ResponseView decodes on first use."""
    if not charset:
        return _utf8, None
    try:
        info = codecs.lookup(charset)
        if not getattr(info, "_is_text_encoding", True):
            raise LookupError(charset)
        info.decode(b"probe \xff", "replace")  # a codec that cannot replace (idna) fails here, not later
    except Exception:  # LookupError, UnicodeError, a name with a NUL in it
        shown = charset if len(charset) <= 40 else charset[:39] + "…"
        return _utf8, f"unknown charset {shown!r}: the body was read as UTF-8, undecodable bytes replaced with U+FFFD"
    name = info.name
    if name == "utf-8":
        return _utf8, None

    def decode(data: bytes | bytearray) -> str:
        try:
            return data.decode(name, errors="replace")
        except Exception:  # a codec that chokes on these bytes after all: read them as UTF-8
            return _utf8(data)
    return decode, None
