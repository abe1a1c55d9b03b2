"""What the daemon knows right now, as the HTTP server and status page read it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.config.models import AgentConfig
from agent.core.clock import Clock, system_clock
from agent.journey.model import Journey

if TYPE_CHECKING:
    from agent.store.sqlite import Store


@dataclass
class AgentState:
    config: AgentConfig
    journeys: dict[str, Journey] = field(default_factory=dict)
    store: Store | None = None
    journeys_loaded: bool = False
    stopping: bool = False
    reload_errors: list[str] = field(default_factory=list)
    last_reload_ok: float | None = None
    last_reload_attempt: float | None = None
    slo_status: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None
    metrics: Callable[[], tuple[bytes, str]] | None = None
    clock: Clock = system_clock

    def not_ready_reasons(self) -> list[str]:
        reasons = []
        if not self.journeys_loaded:
            reasons.append("journeys are not loaded yet")
        if self.store is None:
            reasons.append("the result store is not open")
        elif (problem := self.store.problem()) is not None:
            reasons.append(problem)
        if self.stopping:
            reasons.append("the agent is stopping")
        return reasons
