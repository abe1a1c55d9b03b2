"""The one notion of "now" every part takes: wall-clock Unix seconds, injected so tests can pin it.

Components take `clock: Clock = system_clock`; the daemon hands its own to every part it builds.
Durations and deadlines use the event loop's or `time.monotonic`'s clock, which no test pins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    """Now, in Unix seconds."""
    return time.time()
