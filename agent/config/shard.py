"""Split the journeys among several agents: shard `index` of `count` runs the journeys it owns.

Ownership is rendezvous (highest random weight) hashing of the journey name over the shard ids
1..count with a stable hash, so every agent agrees without talking to the others, and going from
n to n+1 shards moves only the journeys that the new shard takes over.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Protocol, TypeVar

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def parse_shard(text: str) -> tuple[int, int]:
    """`"1/3"` -> (1, 3): shard 1 of 3, counted from 1."""
    match = _SHARD.match(text)
    if not match:
        raise ValueError(f"shard {text!r}: write INDEX/COUNT, such as 1/3 for the first of three shards")
    index, count = int(match[1]), int(match[2])
    _check(index, count, text)
    return index, count


def _check(index: int, count: int, text: str | None = None) -> None:
    shown = text if text is not None else f"{index}/{count}"
    if count < 1:
        raise ValueError(f"shard {shown!r}: the shard count must be at least 1")
    if not 1 <= index <= count:
        raise ValueError(f"shard {shown!r}: the index counts from 1 to the count ({count})")


def _weight(name: str, shard: int) -> int:
    key = f"{shard}\x00{name}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def owner(name: str, count: int) -> int:
    """The shard (1..count) that owns the journey `name`."""
    _check(1, count)
    best, best_weight = 1, -1
    for shard in range(1, count + 1):
        weight = _weight(name, shard)
        if weight > best_weight:  # ties (practically never) go to the lowest id
            best, best_weight = shard, weight
    return best


def owns(name: str, index: int, count: int) -> bool:
    """Whether shard `index` of `count` runs the journey `name`."""
    _check(index, count)
    return owner(name, count) == index


def select(journeys: Iterable[N], index: int, count: int) -> list[N]:
    """The journeys shard `index` of `count` runs, in their order."""
    _check(index, count)
    return [j for j in journeys if owner(j.name, count) == index]
