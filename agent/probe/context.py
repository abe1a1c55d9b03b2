"""What every step executor gets and gives: the run's context and the executor protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from agent.journey.model import Journey, Step
from agent.journey.variables import Variables
from agent.probe.result import StepResult

if TYPE_CHECKING:
    from agent.probe.http.timing import RequestTiming

DEFAULT_USER_AGENT = "journeyprobe/0.1 (synthetic; +https://journeyprobe.dev)"


class StepError(Exception):
    """A step could not be carried out; `error_type` says why (see result.ErrorType)."""

    def __init__(self, message: str, error_type: str, *, agent_side: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.agent_side = agent_side


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """Agent-wide settings that shape every probe request."""

    location: str = ""
    user_agent: str = DEFAULT_USER_AGENT
    tracestate: str | None = "journeyprobe=synthetic"
    artifacts_dir: Path | None = None


class RequestObserver(Protocol):
    """Telemetry's view of each HTTP request a step makes (spans, client metrics)."""

    def request_started(self, timing: RequestTiming, method: str, url: str, headers: Any) -> None: ...

    def request_finished(self, timing: RequestTiming, status: int | None, error_type: str | None) -> None: ...


@dataclass
class RunContext:
    """State shared by the steps of one run: session, cookies, variables, deadline, trace."""

    journey: Journey
    variables: Variables
    trace_id: str
    deadline: float
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("journeyprobe.run"))
    resources: dict[str, Any] = field(default_factory=dict)  # shared by every run of one Runner
    run_state: dict[str, Any] = field(default_factory=dict)  # this run's own (the browser page, say)
    step_span_id: str | None = None
    observer: RequestObserver | None = None
    _session: aiohttp.ClientSession | None = None
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def remaining(self) -> float:
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def http_session(self) -> aiohttp.ClientSession:
        """The run's one client session (cookies carry from step to step, as in a browser)."""
        if self._session is None:
            from agent.probe.http.session import new_session

            self._session = new_session(self.settings)
        return self._session

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:
                self.logger.debug("closing a run resource failed", exc_info=True)
        self._closers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None


class StepExecutor(Protocol):
    async def __call__(self, step: Step, ctx: RunContext) -> StepResult: ...
