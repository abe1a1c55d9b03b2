"""A hard cap on the attribute sets (series) one journey can add to an instrument.

Targets choose some attribute values (a status code, an error); a hostile or broken one must not
grow /metrics without end. Past `limit` distinct sets for a journey, further new sets are folded
into one overflow set per journey, marked as OpenTelemetry marks its own: `otel.metric.overflow`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from agent.core import metric_names as n

DEFAULT_SERIES_PER_JOURNEY = 100
OVERFLOW = "otel.metric.overflow"
log = logging.getLogger("journeyprobe.telemetry")


class SeriesCap:
    """Which attribute sets each journey has used; called on the event loop only."""

    def __init__(self, limit: int = DEFAULT_SERIES_PER_JOURNEY) -> None:
        self.limit = limit
        self._seen: dict[str, set[frozenset[tuple[str, Any]]]] = {}

    def admit(self, journey: str, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
        """`attributes`, or the journey's overflow set once it has used `limit` others."""
        key = frozenset(attributes.items())
        seen = self._seen.setdefault(journey, set())
        if key in seen:
            return attributes
        if len(seen) < self.limit:
            seen.add(key)
            return attributes
        if len(seen) == self.limit:
            seen.add(frozenset())  # the overflow's place: logged once per journey
            log.warning("journey %r has used %d series of an HTTP client metric; further new ones are "
                        "counted under %s=true", journey, self.limit, OVERFLOW)
        return {n.JOURNEY_NAME: journey, OVERFLOW: True}
