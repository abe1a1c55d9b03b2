"""Building RunResults for the store's tests: test_store.py and test_store_resilience.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from agent.probe.result import ErrorType, Outcome, Phases, RunResult, StepResult

T0 = time.time() // 60 * 60 - 86400  # a whole unix minute, a day ago: within retention


def result(journey: str = "checkout", at: float = T0, outcome: Outcome = Outcome.SUCCESS, *,
           agent_side: bool = False, steps: int = 1, trace: str = "ab" * 16) -> RunResult:
    ok = outcome is Outcome.SUCCESS
    return RunResult(
        journey=journey, outcome=outcome, started_at=datetime.fromtimestamp(at, UTC),
        duration_s=0.25, trace_id=trace, location="tokyo-1",
        error_type=None if ok else (ErrorType.AGENT if agent_side else ErrorType.ASSERTION),
        agent_side=agent_side,
        steps=tuple(StepResult(name=f"step{i}", outcome=outcome if i == steps - 1 else Outcome.SUCCESS,
                               duration_s=0.1, status=200, phases=Phases(0.001, 0.002, 0.0, 0.05, 0.01),
                               error=None if ok else 'expected status == 200, saw 503')
                    for i in range(steps)))
