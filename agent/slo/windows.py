"""Per-minute good/total/excluded counts of one SLO, kept as prefix sums in a ring.

A `MinuteSeries` covers the newest `capacity - 1` minutes up to `head` (unix minutes,
`int(t // 60)`). Slot `m % capacity` holds the running sum P[m] of every count up to and
including minute m, so any window of minutes is two lookups: sum(a < m <= b) = P[b] - P[a].
Sums are kept modulo 2**32 in unsigned 32-bit arrays (12 bytes per minute of capacity; a
28-day SLO takes ~470 KiB); a window's sum is exact as long as it stays below 2**32 events.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import accumulate

BURN_WINDOWS: dict[str, int] = {
    "5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400, "3d": 259200,
}
"""The windows every SLO is evaluated over besides its own, in seconds."""

MASK = 0xFFFFFFFF
_TYPECODE = "I" if array("I").itemsize == 4 else "L"


@dataclass(frozen=True, slots=True)
class Counts:
    """Events in some span of minutes: good ones, all that count, and those left out."""

    good: int = 0
    total: int = 0
    excluded: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total, self.excluded + other.excluded)


def minutes_of(seconds: float) -> int:
    """Whole minutes in a window, at least one: 28d -> 40320."""
    return max(1, round(seconds / 60))


def minute_of(t: float) -> int:
    """The unix minute a timestamp falls in (the store's key)."""
    return int(t // 60)


class MinuteSeries:
    """Prefix sums of per-minute (good, total, excluded) over a ring of `capacity` slots."""

    __slots__ = ("_excluded", "_good", "_total", "capacity", "head")

    def __init__(self, capacity: int, head: int) -> None:
        if capacity < 2:
            raise ValueError("a minute series needs at least two slots")
        self.capacity = capacity
        self.head = head  # newest minute covered; everything before the series started counts 0
        self._good = array(_TYPECODE, [0]) * capacity
        self._total = array(_TYPECODE, [0]) * capacity
        self._excluded = array(_TYPECODE, [0]) * capacity

    @classmethod
    def for_window(cls, window_minutes: int, head: int) -> MinuteSeries:
        """A series able to sum any window up to `window_minutes` minutes ending at `head`."""
        return cls(window_minutes + 2, head)

    @classmethod
    def from_rows(cls, capacity: int, head: int, rows: Iterable[tuple[int, int, int, int]]) -> MinuteSeries:
        """Built in one pass from the store's (minute, good, total, excluded) rows."""
        base = head - capacity + 1  # position 0: the minute before the oldest, whose own count is not kept
        good = [0] * capacity
        total = [0] * capacity
        excluded = [0] * capacity
        for minute, g, t, x in rows:
            if base < minute <= head:
                i = minute - base
                good[i] += g
                total[i] += t
                excluded[i] += x
        return cls.from_dense(capacity, head, good, total, excluded)

    @classmethod
    def from_dense(cls, capacity: int, head: int, good: list[int], total: list[int],
                   excluded: list[int]) -> MinuteSeries:
        """Built from per-minute lists of `capacity` items, for minutes head - capacity + 1 .. head.

        The first item stands for the minute before `oldest` and must be 0.
        """
        series = cls(capacity, head)
        # position i holds minute head - capacity + 1 + i; the ring slot of minute m is m % capacity
        shift = (head - capacity + 1) % capacity
        for dense, ring in ((good, series._good), (total, series._total), (excluded, series._excluded)):
            sums = [v & MASK for v in accumulate(dense)]
            ring[shift:] = array(_TYPECODE, sums[: capacity - shift])
            ring[:shift] = array(_TYPECODE, sums[capacity - shift:])
        return series

    @property
    def oldest(self) -> int:
        """The oldest minute whose own count is known (older ones read as zero)."""
        return self.head - self.capacity + 2

    def advance(self, minute: int) -> None:
        """Move `head` forward to `minute`; the minutes in between have no events."""
        if minute <= self.head:
            return
        cap = self.capacity
        hs = self.head % cap
        for ring in (self._good, self._total, self._excluded):
            value = ring[hs]
            if minute - self.head >= cap:
                ring[:] = array(_TYPECODE, [value]) * cap
            else:
                for m in range(self.head + 1, minute + 1):
                    ring[m % cap] = value
        self.head = minute

    def add(self, minute: int, good: int, total: int, excluded: int) -> bool:
        """Count events in `minute`; False if it is too old to be kept."""
        if minute > self.head:
            self.advance(minute)
        if minute < self.oldest:
            return False
        cap = self.capacity
        for ring, delta in ((self._good, good), (self._total, total), (self._excluded, excluded)):
            if delta:
                for m in range(minute, self.head + 1):
                    i = m % cap
                    ring[i] = (ring[i] + delta) & MASK
        return True

    def assign(self, start: int, end: int, counts: Mapping[int, tuple[int, int, int]]) -> None:
        """Make the counts of minutes start..end exactly `counts` (missing minutes: zero).

        Idempotent, so the store's committed counts can be applied again and again.
        """
        if end > self.head:
            self.advance(end)
        start = max(start, self.oldest)
        if start > end:
            return
        cap = self.capacity
        for k, ring in enumerate((self._good, self._total, self._excluded)):
            running = ring[(start - 1) % cap]
            old_end = ring[end % cap]
            for m in range(start, end + 1):
                value = counts.get(m)
                if value and value[k]:
                    running = (running + value[k]) & MASK
                ring[m % cap] = running
            # every later minute moves by the change made to the running sum at `end`
            delta = (running - old_end) & MASK
            if delta:
                for m in range(end + 1, self.head + 1):
                    i = m % cap
                    ring[i] = (ring[i] + delta) & MASK

    def _prefix(self, minute: int) -> tuple[int, int, int]:
        i = minute % self.capacity
        return self._good[i], self._total[i], self._excluded[i]

    def between(self, after: int, upto: int) -> Counts:
        """Counts of the minutes m with after < m <= upto (both within the series)."""
        if upto > self.head:
            upto = self.head
        if after < self.oldest - 1:
            after = self.oldest - 1
        if upto <= after:
            return Counts()
        g1, t1, x1 = self._prefix(upto)
        g0, t0, x0 = self._prefix(after)
        return Counts((g1 - g0) & MASK, (t1 - t0) & MASK, (x1 - x0) & MASK)

    def window(self, minutes: int, now: int | None = None) -> Counts:
        """Counts of the `minutes` minutes ending with `now` (default: `head`), now included."""
        end = self.head if now is None else now
        return self.between(end - minutes, end)

    def minute(self, minute: int) -> Counts:
        """The counts of one minute."""
        return self.between(minute - 1, minute)
