"""`check --grep PATTERN --label KEY=VALUE`: which of the loaded journeys to run."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from agent.journey.model import Journey


class SelectionError(ValueError):
    """The pattern does not compile, or nothing matched."""


def select(journeys: Sequence[Journey], grep: str | None = None,
           labels: Mapping[str, str] | None = None) -> list[Journey]:
    """Journeys whose name matches `grep` (a regular expression, searched anywhere in the name, as
    Playwright's --grep) and that carry every one of `labels`."""
    labels = labels or {}
    pattern = None
    if grep is not None:
        try:
            pattern = re.compile(grep)
        except re.error as exc:
            raise SelectionError(f"--grep {grep!r}: not a regular expression: {exc}") from None
    chosen = [j for j in journeys
              if (pattern is None or pattern.search(j.name))
              and all(j.labels.get(key) == value for key, value in labels.items())]
    if not chosen and (pattern is not None or labels):
        wanted = " and ".join([f"--grep {grep!r}"] * (grep is not None)
                              + [f"--label {k}={v}" for k, v in labels.items()])
        names = ", ".join(sorted(j.name for j in journeys)[:10]) + (", ..." if len(journeys) > 10 else "")
        raise SelectionError(f"no journey matches {wanted} (of {len(journeys)}: {names})")
    return chosen
