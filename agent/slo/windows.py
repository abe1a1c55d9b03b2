"""The good/total/excluded counts of one SLO: prefix sums in rings, minutes then hours.

A `MinuteSeries` covers the newest `capacity - 1` minutes up to `head` (unix minutes,
`int(t // 60)`). Slot `m % capacity` holds the running sum P[m] of every count up to and
including minute m, so any window of minutes is two lookups: sum(a < m <= b) = P[b] - P[a].
Sums are kept modulo 2**32 in unsigned 32-bit arrays (12 bytes per slot); a window's sum is
exact as long as it stays below 2**32 events. The same class, fed hours, holds hourly sums.

A `TieredSeries` is what an SLO keeps: minutes for the last three days and a bit (every burn
window), whole hours before that, and the minutes of the hour or two at the far edge of the
SLO's window, read back from the store as that edge moves (`edge_wanted`). With them the
SLO window's counts are exact too, at ~60 KiB for a 30-day SLO instead of ~500 KiB.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

BURN_WINDOWS: dict[str, int] = {
    "5m": 300, "30m": 1800, "1h": 3600, "2h": 7200, "6h": 21600, "1d": 86400, "3d": 259200,
}
"""The windows every SLO is evaluated over besides its own, in seconds."""

MASK = 0xFFFFFFFF
_TYPECODE = "I" if array("I").itemsize == 4 else "L"

FINE_MINUTES = max(round(s / 60) for s in BURN_WINDOWS.values()) + 60
"""Minutes a `TieredSeries` keeps one by one: the longest burn window (3d) and an hour."""
EDGE_HOURS = 2
"""Hours of minutes at the far edge of an SLO window read from the store at a time."""

Row = tuple[int, int, int, int]
"""(minute, good, total, excluded), as the store returns them."""


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
        rows = [row for row in rows if base < row[0] <= head]
        if not rows:  # a new SLO, or one quiet for the whole span: all sums are zero, as a new series has them
            return cls(capacity, head)
        good = [0] * capacity
        total = [0] * capacity
        excluded = [0] * capacity
        for minute, g, t, x in rows:
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
            sums = list(accumulate(dense))
            if sums and sums[-1] > MASK:  # counts are never negative: the last sum is the largest
                sums = [v & MASK for v in sums]
            ring[shift:] = array(_TYPECODE, sums[: capacity - shift])
            ring[:shift] = array(_TYPECODE, sums[capacity - shift:])
        return series

    @property
    def oldest(self) -> int:
        """The oldest minute whose own count is known (older ones read as zero)."""
        return self.head - self.capacity + 2

    @property
    def nbytes(self) -> int:
        """Bytes of the three rings."""
        return 3 * self._good.itemsize * self.capacity

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


def _boundary(head: int) -> int:
    """The first minute a `TieredSeries` at `head` keeps one by one: a whole hour, so that
    between FINE_MINUTES - 59 and FINE_MINUTES minutes are kept."""
    return -(-(head - FINE_MINUTES + 1) // 60) * 60


class TieredSeries:
    """An SLO's counts: minutes from `boundary` to `head`, whole hours before `boundary`.

    Any window ending at `head` and no longer than FINE_MINUTES - 60 minutes (every burn
    window) is read from the minutes alone. A longer one (the SLO's own) adds the whole hours
    it covers and the minutes of its first, partial hour, which come from the edge buffer:
    the counts of the minutes near the window's far edge, read from the store by the owner
    (`edge_wanted` says which, `set_edge` takes them). Without them the partial hour counts
    whole if the window holds at least half of it, else not at all (off by at most one hour's
    counts at the far edge; the engine reads the edge at every sync, so this does not happen
    while it runs).
    """

    __slots__ = ("_edge", "_edge_end", "_edge_start", "boundary", "coarse", "fine", "window_minutes")

    def __init__(self, window_minutes: int, head: int) -> None:
        self.window_minutes = window_minutes
        self.boundary = _boundary(head)
        self.fine = MinuteSeries(FINE_MINUTES + 1, head)  # keeps P[boundary - 1] and on
        hours = max(2, (window_minutes - FINE_MINUTES) // 60 + 5)
        self.coarse = MinuteSeries(hours, self.boundary // 60 - 1)  # indexed by unix hour
        self._edge_start = self._edge_end = 0
        self._edge: tuple[array[int], array[int], array[int]] | None = None

    @property
    def head(self) -> int:
        return self.fine.head

    @property
    def nbytes(self) -> int:
        """Bytes of the rings and the edge buffer."""
        edge = 0 if self._edge is None else 3 * self._edge[0].itemsize * len(self._edge[0])
        return self.fine.nbytes + self.coarse.nbytes + edge

    # -- loading ---------------------------------------------------------------------------

    def load_ranges(self) -> list[tuple[int, int, int]]:
        """(since, until, bucket minutes) of the store reads `load` takes, in that order: hourly
        sums before `boundary`, the minutes from it to `head`, and the edge buffer if needed."""
        ranges = [(60 * self.coarse.oldest, self.boundary, 60), (self.boundary, self.head + 1, 1)]
        edge = self.edge_wanted()
        if edge is not None:
            ranges.append((*edge, 1))
        return ranges

    def load(self, results: Sequence[Iterable[Row]]) -> None:
        """Take the rows of the reads `load_ranges` asked for (hourly rows keyed by their first minute)."""
        hours, minutes, *edge = results
        self.coarse = MinuteSeries.from_rows(self.coarse.capacity, self.coarse.head,
                                             ((m // 60, g, t, x) for m, g, t, x in hours))
        boundary = self.boundary
        self.fine = MinuteSeries.from_rows(self.fine.capacity, self.head,
                                           (row for row in minutes if row[0] >= boundary))
        wanted = self.edge_wanted()
        if edge and wanted is not None:
            self.set_edge(*wanted, edge[0])

    def edge_wanted(self) -> tuple[int, int] | None:
        """The minutes [since, until) to read for the edge buffer, or None if it has what the
        window needs until its edge crosses into the next hour."""
        first = self.head - self.window_minutes + 1
        if first >= self.boundary:
            return None
        since = first // 60 * 60
        until = min(since + 60 * EDGE_HOURS, self.boundary)
        if self._edge is not None and self._edge_start <= since and until <= self._edge_end:
            return None
        return since, until

    def set_edge(self, since: int, until: int, rows: Iterable[Row]) -> None:
        """Keep the counts of the minutes since..until - 1 (settled, read from the store)."""
        size = until - since
        dense = [[0] * (size + 1) for _ in range(3)]
        for minute, g, t, x in rows:
            if since <= minute < until:
                i = minute - since + 1
                dense[0][i] += g
                dense[1][i] += t
                dense[2][i] += x
        good, total, excluded = (array(_TYPECODE, [v & MASK for v in accumulate(d)]) for d in dense)
        self._edge = (good, total, excluded)
        self._edge_start, self._edge_end = since, until

    # -- counting --------------------------------------------------------------------------

    def advance(self, minute: int) -> None:
        """Move `head` forward to `minute`; hours leaving the minute tier are summed into hours."""
        fine = self.fine
        if minute <= fine.head:
            return
        target = _boundary(minute)
        if target > self.boundary:
            b = self.boundary
            while b < target and b <= fine.head:  # later hours have had no events
                c = fine.between(b - 1, b + 59)
                if c.good or c.total or c.excluded:
                    self.coarse.add(b // 60, c.good, c.total, c.excluded)
                b += 60
            self.coarse.advance(target // 60 - 1)
            self.boundary = target
        fine.advance(minute)

    def add(self, minute: int, good: int, total: int, excluded: int) -> bool:
        """Count events in `minute`; False if it is older than the minute tier (not kept)."""
        if minute > self.head:
            self.advance(minute)
        if minute < self.boundary:
            return False
        return self.fine.add(minute, good, total, excluded)

    def assign(self, start: int, end: int, counts: Mapping[int, tuple[int, int, int]]) -> None:
        """Make the counts of minutes start..end exactly `counts` (minutes of the minute tier only)."""
        if end > self.head:
            self.advance(end)
        self.fine.assign(max(start, self.boundary), end, counts)

    def between(self, after: int, upto: int) -> Counts:
        """Counts of the minutes m with after < m <= upto."""
        upto = min(upto, self.head)
        if upto <= after:
            return Counts()
        boundary = self.boundary
        out = self.fine.between(max(after, boundary - 1), upto) if upto >= boundary else Counts()
        last = min(upto, boundary - 1)
        if after < last:
            out = out + self._older(after + 1, last)
        return out

    def window(self, minutes: int, now: int | None = None) -> Counts:
        """Counts of the `minutes` minutes ending with `now` (default: `head`), now included."""
        end = self.head if now is None else now
        return self.between(end - minutes, end)

    def _older(self, first: int, last: int) -> Counts:
        """Counts of minutes first..last, all before `boundary`: whole hours and partial ones."""
        h_first, h_end = -(-first // 60), (last + 1) // 60  # whole hours h_first .. h_end - 1
        out = self.coarse.between(h_first - 1, h_end - 1) if h_first < h_end else Counts()
        if first < 60 * h_first:
            out = out + self._partial(first, min(60 * h_first - 1, last))
        if h_end >= h_first and 60 * h_end <= last:
            out = out + self._partial(60 * h_end, last)
        return out

    def _partial(self, first: int, last: int) -> Counts:
        """Counts of minutes first..last of one hour before `boundary`."""
        edge = self._edge
        if edge is not None and self._edge_start <= first and last < self._edge_end:
            i, j = first - self._edge_start, last - self._edge_start + 1
            return Counts((edge[0][j] - edge[0][i]) & MASK, (edge[1][j] - edge[1][i]) & MASK,
                          (edge[2][j] - edge[2][i]) & MASK)
        if 2 * (last - first + 1) < 60:
            return Counts()
        hour = first // 60
        return self.coarse.between(hour - 1, hour)
