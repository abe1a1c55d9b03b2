"""The `browser:` actions, one function each, and how a Playwright error reads in a step result."""

from __future__ import annotations

import asyncio
import fnmatch
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from agent.core import redaction
from agent.journey.browser_model import (
    ExpectText,
    ExpectUrl,
    Fill,
    Goto,
    Press,
    Screenshot,
    Select,
    Target,
    WaitFor,
)
from agent.probe.artifacts import slug
from agent.probe.browser.run import BrowserRun
from agent.probe.faults import exception_text
from agent.probe.result import ErrorType, Outcome

NET_ERRORS = (
    ("ERR_CONNECTION_REFUSED", ErrorType.CONNECTION_REFUSED),
    ("ERR_NAME_NOT_RESOLVED", ErrorType.DNS),
    ("ERR_NAME_RESOLUTION_FAILED", ErrorType.DNS),
    ("ERR_CERT_", ErrorType.TLS),
    ("ERR_SSL_", ErrorType.TLS),
    ("ERR_BAD_SSL", ErrorType.TLS),
    ("ERR_CONNECTION_RESET", ErrorType.CONNECTION_RESET),
    ("ERR_CONNECTION_CLOSED", ErrorType.CONNECTION_RESET),
    ("ERR_EMPTY_RESPONSE", ErrorType.CONNECTION_RESET),
    ("ERR_TOO_MANY_REDIRECTS", ErrorType.TOO_MANY_REDIRECTS),
    ("ERR_INVALID_RESPONSE", ErrorType.INVALID_RESPONSE),
)
CLOSED_MARKERS = ("has been closed", "Target closed", "Browser closed", "browser has disconnected",
                  "Connection closed")


class ActionFailed(Exception):
    """An action did not do what it should; carries the step outcome it leads to."""

    def __init__(self, outcome: Outcome, error_type: ErrorType, message: str, *, agent_side: bool = False) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.error_type = error_type
        self.agent_side = agent_side


@dataclass
class Call:
    """One action to carry out: its rendered values, its time budget, and what it reports back."""

    run: BrowserRun
    step_name: str
    values: dict[str, Any]
    timeout: float
    info: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)

    @property
    def page(self) -> Any:
        return self.run.page

    @property
    def ms(self) -> float:
        return max(self.timeout, 0.001) * 1000


def describe(action: str, values: dict[str, Any]) -> str:
    """`click "#pay"`: how an action is named in messages (never with a fill value)."""
    target = {"goto": "url", "expect_url": "url", "expect_text": "text", "press": "key",
              "screenshot": "name"}.get(action, "selector")
    shown = values.get(target)
    return f"{action} {_quote(shown)}" if shown else action


def target_of(action: str, values: dict[str, Any]) -> dict[str, Any]:
    """What an action's entry in `StepResult.actions` says it acted on: selectors and URLs, no typed text."""
    keys = {"goto": ("url",), "click": ("selector",), "fill": ("selector",), "press": ("key", "selector"),
            "select": ("selector", "value"), "wait_for": ("selector", "state"),
            "expect_text": ("text", "selector"), "expect_visible": ("selector",), "expect_url": ("url",),
            "screenshot": ("name",)}[action]
    out: dict[str, Any] = {"target": values.get(keys[0])}
    for key in keys[1:]:
        if values.get(key) is not None:
            out[key] = values[key]
    return out


def _quote(value: object) -> str:
    text = str(value)
    return '"' + redaction.cut(text, 79) + '"'


# -- the actions -------------------------------------------------------------------------------------

async def goto(call: Call, options: Goto) -> None:
    url = call.values["url"]
    if not re.match(r"^https?://[^/]+", url, re.IGNORECASE):
        raise ActionFailed(Outcome.ERROR, ErrorType.TEMPLATE,
                           f"goto {_quote(url)}: needs an absolute http:// or https:// URL")
    await call.run.route_origin(url)
    response = await call.page.goto(url, timeout=call.ms, wait_until=options.wait_until)
    if response is not None:
        call.info["status"] = response.status
        call.run.status = response.status


async def click(call: Call, options: Target) -> None:
    await call.page.locator(call.values["selector"]).click(timeout=call.ms)


async def fill(call: Call, options: Fill) -> None:
    await call.page.locator(call.values["selector"]).fill(call.values["value"], timeout=call.ms)


async def press(call: Call, options: Press) -> None:
    selector = call.values.get("selector")
    if selector:
        await call.page.locator(selector).press(call.values["key"], timeout=call.ms)
    else:
        async with asyncio.timeout(call.timeout):
            await call.page.keyboard.press(call.values["key"])


async def select(call: Call, options: Select) -> None:
    await call.page.locator(call.values["selector"]).select_option(call.values["value"], timeout=call.ms)


async def wait_for(call: Call, options: WaitFor) -> None:
    await call.page.locator(call.values["selector"]).first.wait_for(state=options.state, timeout=call.ms)


async def expect_text(call: Call, options: ExpectText) -> None:
    text, selector = call.values["text"], call.values["selector"]
    # visible elements in `selector` (itself included) whose text holds `text`: hidden ones do not count
    found = call.page.locator(selector).get_by_text(re.compile(re.escape(text))).filter(visible=True).first
    try:
        await found.wait_for(state="visible", timeout=call.ms)
    except Exception as exc:
        if not _is_timeout(exc):
            raise
        shows = await call.run.page_text(selector)
        where = "" if selector == "body" else f" in {selector}"
        raise ActionFailed(Outcome.FAILURE, ErrorType.ASSERTION,
                           f"expect_text {_quote(text)}: not found{where} on {call.page.url}; "
                           f"the page shows: {_quote(shows)}") from None


async def expect_visible(call: Call, options: Target) -> None:
    selector = call.values["selector"]
    try:
        shown = call.page.locator(selector).filter(visible=True).first
        await shown.wait_for(state="visible", timeout=call.ms)
    except Exception as exc:
        if not _is_timeout(exc):
            raise
        count = await call.page.locator(selector).count()
        state = "is on the page but hidden" if count else "matches nothing"
        shows = await call.run.page_text()
        raise ActionFailed(Outcome.FAILURE, ErrorType.ASSERTION,
                           f"expect_visible {_quote(selector)}: not visible within {call.timeout:.3g}s "
                           f"({state}) on {call.page.url}; the page shows: {_quote(shows)}") from None


def url_matches(expected: str, actual: str) -> bool:
    """Exact match, a glob when `expected` holds `*`; a path alone is taken relative to the page."""
    wanted = urljoin(actual, expected) if expected.startswith("/") else expected
    if "*" in wanted:
        return fnmatch.fnmatchcase(actual, wanted)
    return actual == wanted or actual.rstrip("/") == wanted.rstrip("/")


async def expect_url(call: Call, options: ExpectUrl) -> None:
    wanted = call.values["url"]
    try:
        await call.page.wait_for_url(lambda url: url_matches(wanted, url), timeout=call.ms,
                                     wait_until="commit")
    except Exception as exc:
        if not _is_timeout(exc):
            raise
        raise ActionFailed(Outcome.FAILURE, ErrorType.ASSERTION,
                           f"expect_url {_quote(wanted)}: the page is at {call.page.url}") from None


async def screenshot(call: Call, options: Screenshot) -> None:
    folder = call.run.folder()
    if folder is None:
        call.info["saved"] = False  # no artifacts folder configured: taken, not kept
        await call.page.screenshot(full_page=options.full_page, mask=call.run.masks(), timeout=call.ms)
        return
    path = Path(folder) / f"{slug(call.step_name)}-{slug(call.values['name'])}.png"
    await call.run.screenshot(path, full_page=options.full_page, within=call.timeout)
    call.artifacts.append(str(path))


ACTIONS: dict[str, Callable[[Call, Any], Awaitable[None]]] = {
    "goto": goto, "click": click, "fill": fill, "press": press, "select": select, "wait_for": wait_for,
    "expect_text": expect_text, "expect_visible": expect_visible, "expect_url": expect_url,
    "screenshot": screenshot,
}


# -- errors ------------------------------------------------------------------------------------------

def _is_timeout(exc: BaseException) -> bool:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    return isinstance(exc, (PlaywrightTimeout, TimeoutError))


def first_line(exc: BaseException) -> str:
    """Playwright's message without the `Locator.click:` prefix and the call log."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exception_text(exc)
    text = re.sub(r"^[A-Z]\w*\.\w+: ", "", text)
    return redaction.cut(text, 300)


def classify(action_text: str, exc: BaseException, *, timeout: float, bound: str, deadline_bound: bool,
             browser_alive: bool) -> ActionFailed:
    """The step outcome of a Playwright error raised by an action."""
    if _is_timeout(exc):
        why = {"action": "", "step": " (what was left of the step's timeout)",
               "run": " (what was left of the journey's deadline)"}[bound]
        return ActionFailed(Outcome.TIMEOUT, ErrorType.DEADLINE if deadline_bound else ErrorType.TIMEOUT,
                            f"{action_text}: timed out after {timeout:.3g}s{why}")
    message = first_line(exc)
    for marker, error_type in NET_ERRORS:
        if marker in message:
            return ActionFailed(Outcome.ERROR, error_type, f"{action_text}: {message}")
    if "ERR_TIMED_OUT" in message:
        return ActionFailed(Outcome.TIMEOUT, ErrorType.TIMEOUT, f"{action_text}: {message}")
    if not browser_alive or any(marker in message for marker in CLOSED_MARKERS):
        crashed = "the browser crashed or was closed" if not browser_alive else "the page was closed"
        return ActionFailed(Outcome.ERROR, ErrorType.BROWSER, f"{action_text}: {crashed} ({message})",
                            agent_side=not browser_alive)
    return ActionFailed(Outcome.ERROR, ErrorType.BROWSER, f"{action_text}: {message}")
