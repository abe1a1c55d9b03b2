"""Warnings about journeys that load but are likely to mislead (shown by `validate`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from agent.model import Journey


def journey_warnings(journeys: Sequence[Journey]) -> Iterator[str]:
    """Nothing yet beyond validation; the SLO engine adds its low-traffic advice here."""
    yield from ()
