"""Parsing of durations (`250ms`, `1h30m`), objectives (`99.5%`) and byte sizes."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_BYTE_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2,
               "gb": 1000**3, "gib": 1024**3}


def parse_duration(value: object) -> float:
    """Seconds from `90s`, `1h30m`, `250ms` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 30s, got {value!r}")
    text = value.strip()
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"invalid duration {value!r}: use ms, s, m, h or d, such as 250ms, 30s, 1h30m")
    return total


def format_duration(seconds: float) -> str:
    """The shortest readable form: 250ms, 30s, 5m, 1h, 28d, 1h30m."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = "", round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


def parse_objective(value: object) -> float:
    """A ratio in (0, 1) from `99.5%` or `0.995`."""
    if isinstance(value, bool):
        raise ValueError(f"expected an objective such as 99.5% or 0.995, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            ratio = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"invalid objective {value!r}: use 99.5% or 0.995") from None
    elif isinstance(value, (int, float)):
        ratio = float(value)
    else:
        raise ValueError(f"expected an objective such as 99.5% or 0.995, got {value!r}")
    if not 0 < ratio < 1:
        raise ValueError(f"objective {value!r} must lie strictly between 0% and 100%")
    return ratio


def parse_byte_size(value: object) -> int:
    """Bytes from `1MiB`, `512kb` or a plain integer."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 1MiB, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a size must be positive")
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", value)
        if match and match.group(2).lower() in _BYTE_UNITS:
            size = int(match.group(1)) * _BYTE_UNITS[match.group(2).lower()]
            if size > 0:
                return size
    raise ValueError(f"invalid size {value!r}: use bytes or KiB/MiB/GiB, such as 1MiB")
