"""Process-wide settings of a long-running agent process (the daemon and its workers)."""

from __future__ import annotations

import gc

YOUNG_COLLECTION_THRESHOLD = 10_000


def collect_less_often() -> None:
    """Run the cyclic garbage collector's young generation every 10,000 net allocations, not 700.

    A run allocates thousands of short-lived objects that reference counting frees at once;
    with the default threshold the collector still ran every few runs and walked them (on a
    1,000-journey daemon ~300 young collections per 4,000 runs, ~10% of the CPU of a run under
    load; docs/benchmarks.md). Garbage in cycles still goes, only in larger, rarer sweeps."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)
