"""Helpers of the SLO tests (no tests here): journeys with SLOs, run results, an in-memory store."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agent.journey.model import Journey
from agent.probe.result import ErrorType, Outcome, RunResult

NOW = time.time() // 60 * 60  # a whole minute, so tests place runs in known minutes
DAY = 86400.0


def slo_journey(name: str = "checkout", *, interval: str = "60s", slos: list[dict[str, Any]] | None = None,
                **extra: Any) -> Journey:
    """A journey with one success SLO (99%, 30 days) unless `slos` says otherwise."""
    slos = slos if slos is not None else [
        {"name": f"{name}-success", "objective": "99%", "window": "30d", "owner": "Head of Product"}]
    return Journey.model_validate({"name": name, "interval": interval,
                                   "steps": [{"name": "home", "http": {"url": "http://127.0.0.1:1/"}}],
                                   "slos": slos, **extra})


def run_result(journey: str, at: float, passed: bool = True, *, agent_side: bool = False,
               duration: float = 0.2) -> RunResult:
    outcome = Outcome.SUCCESS if passed else (Outcome.ERROR if agent_side else Outcome.FAILURE)
    return RunResult(journey=journey, outcome=outcome, started_at=datetime.fromtimestamp(at, UTC),
                     duration_s=duration, trace_id="ab" * 16, location="test",
                     error_type=None if passed else (ErrorType.AGENT if agent_side else ErrorType.ASSERTION),
                     agent_side=agent_side)


class FakeStore:
    """The store's SLO methods over dicts; everything added is 'committed' at once."""

    flush_interval = 0.5

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], list[int]] = {}
        self.alerts: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads = 0
        self.fail_puts = 0

    async def add(self, result: RunResult, verdicts: Mapping[str, bool | None]) -> None:
        minute = int(result.started_at.timestamp() // 60)
        for slo, verdict in verdicts.items():
            c = self.counts.setdefault((result.journey, slo, minute), [0, 0, 0])
            if verdict is None:
                c[2] += 1
            else:
                c[0] += verdict
                c[1] += 1

    async def minute_counts(self, slo: str, journey: str, since_minute: int,
                            until_minute: int) -> list[tuple[int, int, int, int]]:
        self.reads += 1
        return sorted((m, g, t, x) for (j, s, m), (g, t, x) in self.counts.items()
                      if j == journey and s == slo and since_minute <= m < until_minute)

    async def get_alert_states(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {k: dict(v) for k, v in self.alerts.items()}

    async def put_alert_state(self, slo: str, severity: str, state: str, since: float | None,
                              last_notified: float | None, details: Mapping[str, Any]) -> None:
        if self.fail_puts:
            self.fail_puts -= 1
            raise OSError("disk full")
        self.alerts[(slo, severity)] = {"state": state, "since": since, "last_notified": last_notified,
                                        "details": dict(details)}
