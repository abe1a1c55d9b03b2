"""The demo shop's switchable faults: which fault (`none`, `error`, `slow`, `hang`, `wrong`) each area shows."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agent.core.durations import parse_duration

AREAS = ("login", "cart", "checkout")
MODES = ("none", "error", "slow", "hang", "wrong")
DEFAULT_DELAY = 2.0
MAX_DELAY = 600.0
_SPEC_HELP = "write AREA=MODE[:DELAY], such as cart=error or login=slow:3"


@dataclass(frozen=True)
class Fault:
    mode: str = "none"
    delay: float = DEFAULT_DELAY


def _parse_delay(value: object) -> float:
    """Seconds from 3, 2.5, "3", "500ms" or "2s"; at most MAX_DELAY."""
    if isinstance(value, str) and value.strip():
        try:
            value = float(value)
        except ValueError:
            value = parse_duration(value)  # raises ValueError with a readable message
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"delay must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or not 0 <= value <= MAX_DELAY:
        raise ValueError(f"delay must be between 0 and {MAX_DELAY:g} seconds, got {value!r}")
    return float(value)


class Faults:
    """The fault each area of the shop shows; every area starts as `none`."""

    def __init__(self) -> None:
        self._faults = {area: Fault() for area in AREAS}

    def set(self, area: str, mode: str, delay: object = None) -> None:
        """Switch `area` (or `all`) to `mode`; ValueError names what is wrong."""
        if area != "all" and area not in AREAS:
            raise ValueError(f"unknown area {area!r}; use one of {', '.join(AREAS)} or all")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        fault = Fault(mode, DEFAULT_DELAY if delay is None else _parse_delay(delay))
        for name in AREAS if area == "all" else (area,):
            self._faults[name] = fault

    def get(self, area: str) -> Fault:
        return self._faults[area]

    def reset(self) -> None:
        self.set("all", "none")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {area: {"mode": f.mode, "delay": f.delay} for area, f in self._faults.items()}

    @classmethod
    def from_specs(cls, specs: Iterable[str]) -> Faults:
        """Faults from `AREA=MODE[:DELAY]` texts: `cart=error`, `login=slow:3`, `all=hang`."""
        faults = cls()
        for spec in specs:
            area, sep, rest = spec.strip().partition("=")
            mode, colon, delay = rest.partition(":")
            if not sep or not area or not mode or (colon and not delay):
                raise ValueError(f"fault {spec!r}: {_SPEC_HELP}")
            try:
                faults.set(area.strip(), mode.strip(), delay.strip() if colon else None)
            except ValueError as exc:
                raise ValueError(f"fault {spec!r}: {exc}") from None
        return faults
