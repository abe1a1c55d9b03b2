"""The browser side of one run: its context and page, shared by the run's browser and script steps.

Opened by the first step that needs a page, closed by `RunContext.aclose` (the context is always
closed and its slot given back). It carries what the steps learn about the run: the origins that
get `traceparent`, the fields that got secrets (masked in screenshots), console errors, web vitals,
and whether the Playwright trace is still recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.core import redaction
from agent.probe.artifacts import Pruner, run_folder, slug
from agent.probe.browser.pool import BrowserPool, Lease, pool_for
from agent.probe.browser.vitals import INIT_SCRIPT, PAINT_WAIT_S, SNAPSHOT_SCRIPT, VitalsLog
from agent.probe.context import RunContext, StepError
from agent.probe.faults import exception_text
from agent.probe.result import ErrorType
from agent.probe.trace_context import new_span_id

log = logging.getLogger("journeyprobe.browser")

MAX_EVENTS = 20
EVENT_CHARS = 300
DEFAULT_TIMEOUT_MS = 15_000


class BrowserRun:
    """One run's browser context and page, and what its steps recorded about them."""

    def __init__(self, ctx: RunContext, pool: BrowserPool, lease: Lease) -> None:
        self.ctx = ctx
        self.pool = pool
        self.lease = lease
        self.context = lease.context
        self.page: Any = None
        self.started_at = datetime.now(UTC)
        self.tracing = lease.tracing
        self.trace_note: str | None = None if lease.tracing else "tracing is off"
        self.secret_selectors: list[str] = []
        self.routed_origins: set[str] = set()
        self.vitals = VitalsLog()
        self.events: list[str] = []
        self.event_count = 0  # recorded in this run, at most MAX_EVENTS
        self.dropped_events = 0
        self.status: int | None = None
        self.until: float | None = None  # loop time the current step must end by (set by the step)

    # -- the page and its events -------------------------------------------------------------
    async def open_page(self) -> Any:
        page = await self.context.new_page()
        page.set_default_timeout(DEFAULT_TIMEOUT_MS)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("crash", lambda _page: self._event("crash: the page's renderer crashed"))
        self.page = page
        return page

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self._event(f"console.error: {message.text}")

    def _on_page_error(self, error: Any) -> None:
        name = getattr(error, "name", "") or "Error"
        text = getattr(error, "message", "") or str(error)
        self._event(f"pageerror: {name}: {text}")

    def _event(self, text: str) -> None:
        if self.event_count >= MAX_EVENTS:
            self.dropped_events += 1
            return
        self.event_count += 1
        line = " ".join(text.split())
        self.events.append(redaction.cut(line, EVENT_CHARS - 1))

    def take_events(self) -> list[str]:
        """Console errors and page errors since the last call."""
        events, self.events = self.events, []
        if self.dropped_events:
            events.append(f"({self.dropped_events} more page errors not recorded)")
            self.dropped_events = 0
        return events

    # -- traceparent on the journey's own origins ---------------------------------------------
    async def route_origin(self, url: str) -> None:
        """Add `traceparent` (and `tracestate`) to every request to the origin of `url`, and only there."""
        if not self.ctx.journey.traceparent:
            return
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin in self.routed_origins:
            return
        self.routed_origins.add(origin)
        pattern = re.compile("^" + re.escape(origin) + r"([/?#]|$)", re.IGNORECASE)
        await self.context.route(pattern, self._add_trace_headers)

    async def _add_trace_headers(self, route: Any, request: Any) -> None:
        headers = dict(request.headers)
        headers["traceparent"] = f"00-{self.ctx.trace_id}-{new_span_id()}-01"
        if self.ctx.settings.tracestate:
            headers["tracestate"] = self.ctx.settings.tracestate
        try:
            await route.fallback(headers=headers)
        except Exception:
            log.debug("could not continue %s", request.url, exc_info=True)

    def budget(self, wanted: float) -> float:
        """`wanted` seconds, or less when the current step ends sooner (0: no time left)."""
        if self.until is None:
            return wanted
        return max(0.0, min(wanted, self.until - asyncio.get_running_loop().time() - 0.02))

    # -- vitals --------------------------------------------------------------------------------
    async def snapshot_vitals(self, within: float = 2.0) -> None:
        """Read the current document's vitals (kept per document; the latest reading wins).

        The reading waits for the document's first paint, up to PAINT_WAIT_S and within `within`.
        """
        within = self.budget(within)
        if self.page is None or self.page.is_closed() or within <= 0:
            return
        wait_ms = int(1000 * min(PAINT_WAIT_S, within / 2))
        try:
            async with asyncio.timeout(within):
                self.vitals.add(await self.page.evaluate(SNAPSHOT_SCRIPT, wait_ms))
        except Exception:
            pass

    # -- secrets and the trace ---------------------------------------------------------------
    async def stop_tracing(self, reason: str) -> None:
        """Stop recording the trace for good and drop what it holds (it would keep typed secrets)."""
        if not self.tracing:
            return
        self.tracing = False
        self.trace_note = reason
        with contextlib.suppress(Exception):
            async with asyncio.timeout(max(0.05, self.budget(5.0))):
                await self.context.tracing.stop()  # unsaved: nothing ever exports it after this

    # -- artifacts -----------------------------------------------------------------------------
    def folder(self) -> Path | None:
        root = self.ctx.settings.artifacts_dir
        if root is None:
            return None
        return run_folder(Path(root), self.ctx.journey.name, self.ctx.trace_id, self.started_at)

    def masks(self) -> list[Any]:
        """What screenshots cover: the fields a secret was typed into, and any text showing a secret."""
        shown = [self.page.get_by_text(form) for secret in sorted(self.ctx.variables.secrets)
                 for form in redaction.page_forms(secret)]
        return [self.page.locator(selector) for selector in self.secret_selectors] + shown

    async def screenshot(self, path: Path, *, full_page: bool, within: float) -> None:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await self.page.screenshot(path=str(path), full_page=full_page, mask=self.masks(),
                                   timeout=max(within, 0.1) * 1000, animations="disabled")

    async def capture_failure(self, step_name: str, until: float) -> list[str]:
        """A screenshot and the trace archive of a failed step, each within what is left until `until`.

        Never raises: a step that failed keeps its own reason, whatever happens to its artifacts."""
        try:
            return await self._capture_failure(step_name, until)
        except Exception as exc:
            log.warning("no failure artifacts for %s: %s", step_name, exception_text(exc, 200))
            return []

    async def _capture_failure(self, step_name: str, until: float) -> list[str]:
        folder = self.folder()
        if folder is None or self.page is None:
            return []
        loop = asyncio.get_running_loop()
        saved: list[str] = []
        shot = folder / f"{slug(step_name)}-failure.png"
        try:
            left = min(5.0, until - loop.time())
            if left > 0.05 and not self.page.is_closed():
                async with asyncio.timeout(left):
                    await self.screenshot(shot, full_page=False, within=left)
                saved.append(str(shot))
        except Exception as exc:
            log.info("no failure screenshot for %s: %s", step_name, exception_text(exc, 200))
        if self.tracing:
            archive = folder / f"{slug(step_name)}-trace.zip"
            self.tracing = False
            self.trace_note = "saved at the first failure"
            try:
                left = min(15.0, until - loop.time())
                if left > 0.05:
                    async with asyncio.timeout(left):
                        await self.context.tracing.stop(path=str(archive))
                    saved.append(str(archive))
            except Exception as exc:
                log.info("no trace archive for %s: %s", step_name, exception_text(exc, 200))
        if saved:
            self._prune_soon()
        return saved

    def _prune_soon(self) -> None:
        root = self.ctx.settings.artifacts_dir
        if root is None:
            return
        resources = self.ctx.resources
        pruner = resources.artifacts_pruner
        if pruner is None:
            pruner = resources.artifacts_pruner = Pruner(resources.artifacts_retention)
        base = Path(root)
        if pruner.due(base):
            task = asyncio.get_running_loop().run_in_executor(None, pruner.run, base)
            task.add_done_callback(_log_prune_error)

    async def page_text(self, selector: str = "body", limit: int = 200, within: float = 1.0) -> str:
        """What the page shows (inner text of `selector`, else the body), whitespace folded, cut short."""
        within = self.budget(within)
        if self.page is None or self.page.is_closed() or within <= 0:
            return ""
        for candidate in dict.fromkeys((selector, "body")):
            try:
                async with asyncio.timeout(within):
                    text = await self.page.locator(candidate).first.inner_text(timeout=within * 1000)
            except Exception:
                continue
            folded = " ".join(text.split())
            return redaction.cut(folded, limit - 1)
        return ""

    # -- closing -------------------------------------------------------------------------------
    async def close(self) -> None:
        """Close the context (discarding an unsaved trace) and give the slot back."""
        await self.pool.release(self.lease)


def _log_prune_error(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("pruning artifacts failed: %s", future.exception())


def current_run(ctx: RunContext) -> BrowserRun | None:
    """The run's browser, if a step opened it."""
    run = ctx.browser_run
    return run if isinstance(run, BrowserRun) else None


async def open_run(ctx: RunContext, within: float) -> BrowserRun:
    """The run's browser context and page: the existing one, else a fresh one from the shared pool.

    Waiting for a slot or a launch is bounded by `within`; failing that is an agent-side StepError."""
    run = current_run(ctx)
    if run is not None and run.page is not None and not run.page.is_closed():
        return run
    if run is None:
        pool = pool_for(ctx.resources)
        started = time.perf_counter()
        tracing = ctx.resources.browser_tracing
        if tracing is None:
            tracing = pool.config.tracing
        lease = await pool.lease(within, tracing=tracing, init_scripts=(INIT_SCRIPT,))
        run = BrowserRun(ctx, pool, lease)
        ctx.browser_run = run
        ctx.on_close(run.close)
        ctx.logger.debug("browser context ready in %.3fs (slot wait %.3fs, launch %.3fs)",
                         time.perf_counter() - started, lease.waited_s, lease.launch_s)
    try:
        await run.open_page()
    except Exception as exc:
        raise StepError(f"the browser could not open a page: {exception_text(exc)}", ErrorType.BROWSER,
                        agent_side=True) from None
    return run
