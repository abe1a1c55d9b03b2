"""Frozen results of steps and runs, and their JSON form (docs/interfaces.md: Result JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any


class Outcome(str, Enum):
    SUCCESS = "success"
    FAILURE = "failure"  # an expectation did not hold
    TIMEOUT = "timeout"  # a deadline passed
    ERROR = "error"  # could not be carried out
    SKIPPED = "skipped"  # a step after the first non-success

    def __str__(self) -> str:
        return self.value


class ErrorType(StrEnum):
    """`error.type` values kept with a result (OpenTelemetry's attribute of that name); stored as their text."""

    ASSERTION = "assertion"
    TIMEOUT = "timeout"
    DEADLINE = "deadline"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    DNS = "dns"
    TLS = "tls"
    BODY_TOO_LARGE = "body_too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    INVALID_RESPONSE = "invalid_response"
    TEMPLATE = "template"
    MISSING_ENV = "missing_env"  # an env./secret. variable the journey reads is not set: the agent's setup
    EXTRACT = "extract"
    SCRIPT = "script"
    BROWSER = "browser"
    AGENT = "agent"  # the probe host failed, not the target
    CANCELLED = "cancelled"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Phases:
    """Seconds spent in each phase of an HTTP request, from aiohttp's TraceConfig."""

    dns_s: float = 0.0
    connect_s: float = 0.0
    tls_s: float = 0.0
    ttfb_s: float = 0.0
    transfer_s: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"dns_s": round(self.dns_s, 6), "connect_s": round(self.connect_s, 6), "tls_s": round(self.tls_s, 6),
                "ttfb_s": round(self.ttfb_s, 6), "transfer_s": round(self.transfer_s, 6)}


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    outcome: Outcome
    duration_s: float = 0.0
    kind: str = "http"
    status: int | None = None
    error: str | None = None
    error_type: ErrorType | None = None
    phases: Phases | None = None
    expectations: tuple[str, ...] = ()
    actions: tuple[dict[str, Any], ...] = ()
    artifacts: tuple[str, ...] = ()
    vitals: tuple[dict[str, Any], ...] = ()
    agent_side: bool = False
    notes: tuple[str, ...] = ()  # what the step had to work around (an unknown charset, say)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "outcome": self.outcome.value,
            "duration_s": round(self.duration_s, 6),
            "status": self.status,
            "error": self.error,
            "error_type": self.error_type,
        }
        if self.phases is not None:
            out["phases"] = self.phases.to_dict()
        if self.actions:
            out["actions"] = list(self.actions)
        if self.artifacts:
            out["artifacts"] = list(self.artifacts)
        if self.vitals:
            out["vitals"] = list(self.vitals)
        if self.agent_side:
            out["agent_side"] = True
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True, slots=True)
class AttemptSummary:
    """What an earlier attempt of a retried run ended as, so flakiness stays visible."""

    attempt: int
    outcome: Outcome
    error_type: ErrorType | None
    error: str | None
    trace_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "outcome": self.outcome.value,
                "error_type": self.error_type, "error": self.error, "trace_id": self.trace_id}


@dataclass(frozen=True, slots=True)
class RunResult:
    journey: str
    outcome: Outcome
    started_at: datetime
    duration_s: float
    trace_id: str
    location: str = ""
    error_type: ErrorType | None = None
    attempt: int = 1
    steps: tuple[StepResult, ...] = ()
    earlier_attempts: tuple[AttemptSummary, ...] = ()
    agent_side: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def error(self) -> str | None:
        """The message of the first step that did not succeed."""
        return next((s.error for s in self.steps if s.outcome not in (Outcome.SUCCESS, Outcome.SKIPPED)),
                    None)

    @property
    def first_outcome(self) -> Outcome:
        """The first attempt's outcome: differs from `outcome` when a retry passed."""
        return self.earlier_attempts[0].outcome if self.earlier_attempts else self.outcome

    @property
    def flaky(self) -> bool:
        return self.passed and bool(self.earlier_attempts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "outcome": self.outcome.value,
            "error_type": self.error_type,
            "started_at": format_timestamp(self.started_at),
            "duration_s": round(self.duration_s, 6),
            "location": self.location,
            "trace_id": self.trace_id,
            "attempt": self.attempt,
            "first_outcome": self.first_outcome.value,
            "earlier_attempts": [a.to_dict() for a in self.earlier_attempts],
            "agent_side": self.agent_side,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        steps = tuple(
            StepResult(
                name=s["name"], outcome=Outcome(s["outcome"]), duration_s=s.get("duration_s", 0.0),
                kind=s.get("kind", "http"), status=s.get("status"), error=s.get("error"),
                error_type=_error_type(s.get("error_type")),
                phases=Phases(**s["phases"]) if s.get("phases") else None,
                actions=tuple(s.get("actions", ())), artifacts=tuple(s.get("artifacts", ())),
                vitals=tuple(s.get("vitals", ())), agent_side=s.get("agent_side", False),
                notes=tuple(s.get("notes", ())),
            )
            for s in data.get("steps", ())
        )
        earlier = tuple(
            AttemptSummary(attempt=a["attempt"], outcome=Outcome(a["outcome"]),
                           error_type=_error_type(a.get("error_type")), error=a.get("error"),
                           trace_id=a.get("trace_id", ""))
            for a in data.get("earlier_attempts", ())
        )
        return cls(
            journey=data["journey"], outcome=Outcome(data["outcome"]),
            started_at=parse_timestamp(data["started_at"]), duration_s=data["duration_s"],
            trace_id=data["trace_id"], location=data.get("location", ""),
            error_type=_error_type(data.get("error_type")), attempt=data.get("attempt", 1), steps=steps,
            earlier_attempts=earlier, agent_side=data.get("agent_side", False),
        )


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: 2026-11-29T07:00:00.123Z."""
    moment = moment.astimezone(UTC)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _error_type(value: str | None) -> ErrorType | None:
    return None if value is None else ErrorType(value)
