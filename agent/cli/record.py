"""`journeyprobe record URL`: a person clicks through a flow in Chromium; the agent writes it as a journey.

Playwright's own recorder (codegen) needs a headed browser with its inspector; this one needs only
the project's browser pool. recorder.js, an init script of the page's context, reports clicks,
typing, choices and Enter through a Playwright binding; Playwright's navigation events tell
followed links from addresses typed. The recording lives here, in the agent: it survives the
browser being closed or killed, and stops on the page's close, the browser's end or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from agent.cli.record_journey import Recording
from agent.config.models import BrowserConfig
from agent.probe.browser.pool import BrowserPool
from agent.probe.context import StepError

BINDING = "__journeyprobeRecord"
OPEN_TIMEOUT_S = 30.0
SCHEMA_FILE = "journey.schema.json"


class RecordError(Exception):
    """The recording could not start: no browser, no display, a page that does not open."""


@dataclass(frozen=True)
class RecordOptions:
    url: str
    browser: BrowserConfig
    devtools_port: int | None = None
    max_duration_s: float = 3600.0
    announce: Callable[[str], None] = lambda text: None


def recorder_script() -> str:
    return resources.files("agent.cli").joinpath("recorder.js").read_text(encoding="utf-8")


def display_problem(headless: bool, environ: Mapping[str, str]) -> str | None:
    """Why a window cannot be shown here, or None."""
    if headless or not sys.platform.startswith("linux") or environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to show the browser on (DISPLAY is not set): record on a machine with a screen, "
            "over ssh -X, in Xvfb with a VNC viewer, or with --headless --devtools-port 9222 and chrome://inspect "
            "through an SSH tunnel (docs/cli.md, `record` on a server)")


async def record(options: RecordOptions) -> Recording:
    """Record until the page or browser closes, SIGINT/SIGTERM, or `max_duration_s`."""
    recording = Recording(options.url)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    extra = (f"--remote-debugging-port={options.devtools_port}",) if options.devtools_port else ()
    pool = BrowserPool(options.browser, extra_args=extra)
    try:
        try:
            lease = await pool.lease(options.browser.launch_timeout, tracing=False, init_scripts=(recorder_script(),))
        except StepError as exc:
            raise RecordError(str(exc)) from None
        try:
            page = await _open(lease.context, recording, stopped, options)
            lease.instance.browser.on("disconnected", lambda _browser: stopped.set())
            options.announce(_ready_text(options))
            try:
                await asyncio.wait_for(stopped.wait(), options.max_duration_s)
            except TimeoutError:
                recording.notes.append(f"the recording stopped after {options.max_duration_s:g}s (--max-duration)")
            del page
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await pool.release(lease)
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await pool.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return recording


async def _open(context: Any, recording: Recording, stopped: asyncio.Event, options: RecordOptions) -> Any:
    pages: list[Any] = []

    def on_event(source: dict[str, Any], data: str) -> None:
        if pages and source.get("page") is pages[0]:  # popups and other tabs are not followed
            with contextlib.suppress(ValueError, TypeError, KeyError):
                recording.page_event(json.loads(data))

    await context.expose_binding(BINDING, on_event)
    page = await context.new_page()
    pages.append(page)
    page.on("close", lambda _page: stopped.set())
    page.on("request", lambda request: recording.navigation_requested()
            if request.is_navigation_request() and request.frame == page.main_frame else None)
    page.on("framenavigated", lambda frame: recording.navigated(frame.url) if frame == page.main_frame else None)
    page.on("popup", lambda _popup: recording.notes.append("a popup or new tab opened: what happened there is "
                                                           "not recorded"))
    recording.opened(options.url)
    try:
        await page.goto(options.url, timeout=OPEN_TIMEOUT_S * 1000, wait_until="domcontentloaded")
    except Exception as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise RecordError(f"{options.url}: the page did not open: {first}") from None
    return page


def _ready_text(options: RecordOptions) -> str:
    lines = [f"Recording {options.url}"]
    if options.browser.headless:
        lines.append("  headless: drive the page through the DevTools port below (chrome://inspect)")
    else:
        lines.append("  click and type through the journey in the Chromium window; Alt+click an element to "
                     "check the text it shows")
    if options.devtools_port:
        lines.append(f"  DevTools: http://127.0.0.1:{options.devtools_port} (chrome://inspect, "
                     f"Configure: 127.0.0.1:{options.devtools_port})")
    lines.append("  close the window (or press Ctrl-C) to stop and write the journey")
    return "\n".join(lines)


def schema_reference(output: Path) -> str | None:
    """The journey schema beside the output or one folder up (as `init` lays it out), relative to the output."""
    folder = output.resolve().parent
    for candidate in (folder / SCHEMA_FILE, folder.parent / SCHEMA_FILE):
        if candidate.is_file():
            return Path(os.path.relpath(candidate, folder)).as_posix()
    return None
