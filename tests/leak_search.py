"""Looking for a secret in an output, in every encoding it may have taken on the way (independent of the redactor)."""

from __future__ import annotations

import base64
import html
import json
import xml.sax.saxutils
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

import markupsafe
from yarl import URL

ELLIPSES = ("…", "...")
MIN_PARTIAL = 3  # a secret's first characters, this many or more, just before an ellipsis, are a leak

TRANSFORMS: tuple[Callable[[str], str], ...] = (
    lambda x: json.dumps(x)[1:-1],
    lambda x: json.dumps(x, ensure_ascii=False)[1:-1],
    lambda x: quote(x, safe=""),
    lambda x: quote(x),
    lambda x: quote_plus(x),
    lambda x: html.escape(x),
    lambda x: html.escape(x, quote=False),
    lambda x: xml.sax.saxutils.escape(x, {'"': "&quot;", "\n": "&#10;"}),
    lambda x: str(markupsafe.escape(x)),
    lambda x: repr(x)[1:-1],
    lambda x: str(URL.build(path="/" + x))[1:],
)


def _closure(bases: Iterable[str], depth: int) -> set[str]:
    found = set(bases)
    layer = set(found)
    for _ in range(depth):
        layer = {transform(text) for text in layer for transform in TRANSFORMS} - found
        found |= layer
    return found


@lru_cache(maxsize=64)
def encodings(secret: str, user: str = "") -> tuple[frozenset[str], frozenset[str]]:
    """(every form up to three encodings deep, the forms of its beginnings up to two deep)."""
    b64 = [base64.b64encode(secret.encode()).decode()]
    if user:
        b64.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
    deep = _closure([secret], 3) | _closure(b64, 2)
    beginnings = _closure([secret[:size] for size in range(MIN_PARTIAL, len(secret))], 2)
    return frozenset(f for f in deep if f), frozenset(beginnings)


def leaks(text: str, secret: str, user: str = "") -> list[str]:
    """The forms of `secret` found in `text`, and beginnings of it left before an ellipsis."""
    every, beginnings = encodings(secret, user)
    found = sorted(form for form in every if form in text)
    for ellipsis in ELLIPSES:
        start = text.find(ellipsis)
        while start != -1:
            before = text[max(0, start - 400):start]
            for form in beginnings:
                if before.endswith(form):
                    found.append(f"beginning {form!r} before {ellipsis!r} in ...{before[-60:]!r}")
                    break
            start = text.find(ellipsis, start + 1)
    return found


def strings_of(message: Any) -> list[str]:
    """Every string field inside a protobuf message (span names, attributes, status messages, events)."""
    out: list[str] = []
    for _field, value in message.ListFields():
        items = value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]
        for item in items:
            if isinstance(item, str):
                out.append(item)
            elif hasattr(item, "ListFields"):
                out.extend(strings_of(item))
    return out
