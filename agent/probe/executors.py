"""Step executors, one module per kind, looked up by `Step.kind`."""

from __future__ import annotations

from agent.probe.context import StepExecutor


def executor_for(kind: str) -> StepExecutor:
    """The executor of a step kind; imported on first use so `check` loads only what it needs."""
    if kind == "http":
        from agent.probe.http import step as http

        return http.execute
    if kind == "browser":
        from agent.probe.browser import step as browser  # type: ignore[attr-defined]

        return browser.execute  # type: ignore[no-any-return]
    if kind == "script":
        from agent.probe import script  # type: ignore[attr-defined]

        return script.execute  # type: ignore[no-any-return]
    raise KeyError(f"no executor for step kind {kind!r}")
