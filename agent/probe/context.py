"""What every step executor gets and gives: the run's context and the executor protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from agent.config.models import BrowserConfig
from agent.journey.model import Journey, Step
from agent.journey.variables import Variables
from agent.probe.artifacts import Pruner, Retention
from agent.probe.result import ErrorType, StepResult

if TYPE_CHECKING:
    from agent.probe.http.timing import RequestTiming

DEFAULT_USER_AGENT = "journeyprobe/0.1 (synthetic; +https://journeyprobe.dev)"


class StepError(Exception):
    """A step could not be carried out; `error_type` says why (see result.ErrorType)."""

    def __init__(self, message: str, error_type: ErrorType, *, agent_side: bool = False) -> None:
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


class Closeable(Protocol):
    async def close(self) -> None: ...


@dataclass
class ProbeResources:
    """What every run of one Runner shares; the browser pool and the pruner are made on first use."""

    browser: BrowserConfig | None = None
    artifacts_retention: Retention | None = None
    browser_tracing: bool | None = None  # None: as `browser.tracing` says
    browser_pool: Closeable | None = None  # an agent.probe.browser.pool.BrowserPool
    artifacts_pruner: Pruner | None = None

    async def close(self) -> None:
        """Close the shared browser, if one was started (the daemon's and check's shutdown)."""
        pool, self.browser_pool = self.browser_pool, None
        if pool is not None:
            await pool.close()


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
    resources: ProbeResources = field(default_factory=ProbeResources)  # shared by every run of one Runner
    browser_run: Closeable | None = None  # the run's agent.probe.browser.run.BrowserRun, once a step opened it
    http: aiohttp.ClientSession | None = None  # the run's client session (agent.probe.http.session.run_session)
    step_span_id: str | None = None
    observer: RequestObserver | None = None
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def remaining(self) -> float:
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:
                self.logger.debug("closing a run resource failed", exc_info=True)
        self._closers.clear()
        if self.http is not None:
            await self.http.close()
            self.http = None


class StepExecutor(Protocol):
    async def __call__(self, step: Step, ctx: RunContext) -> StepResult: ...
