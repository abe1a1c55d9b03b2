"""Compact JSON of results: orjson when it is installed, else the standard library.

A result's JSON is written on every run (the store's row, the jsonl line):
orjson makes it in ~1 µs instead of ~15 (docs/benchmarks.md). Both give the same values
(the spelling of some floats differs: 1e-05 or 0.00001) and write UTF-8 as is; anything that
is not JSON goes through `str` (orjson writes NaN as null). `JOURNEYPROBE_PURE_JSON=1` keeps to
the standard library.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

try:
    if os.environ.get("JOURNEYPROBE_PURE_JSON"):
        raise ImportError("the standard library's json was asked for")
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]

BACKEND = "orjson" if orjson is not None else "json"
_LONG_DIGITS = re.compile(rb"\d{19,}")


def dumps(value: Any) -> str:
    """`value` as compact JSON text (no spaces)."""
    if orjson is not None:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False, allow_nan=True)


def loads_utf8(data: bytes | bytearray) -> Any:
    """The JSON document in UTF-8 bytes, parsed without a text copy of them when orjson is there.

    Raises ValueError when orjson refuses them (invalid UTF-8, NaN, deep nesting) or could round
    them (a number of 19 digits or more): the caller then parses the decoded text with the standard
    library, which decides."""
    if orjson is None:
        raise ValueError("orjson is not installed")
    if _LONG_DIGITS.search(data):  # orjson reads an integer past 64 bits as a rounded float
        raise ValueError("a number of 19 digits or more: the standard library reads it exactly")
    return orjson.loads(data)
