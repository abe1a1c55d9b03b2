"""One shared Chromium per agent: a fresh, isolated browser context per run, at most `max_contexts` at once.

The pool lives in `Runner.resources.browser_pool` (see `pool_for`) and must be closed when the
agent or `check` ends (`ProbeResources.close`). The browser is launched on first use, relaunched when it
crashes or disconnects, and recycled after `recycle_after` contexts so that its temporary files
(trace data of every context) and memory stay bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config.models import BrowserConfig
from agent.probe.context import ProbeResources, StepError
from agent.probe.result import ErrorType

log = logging.getLogger("journeyprobe.browser")

CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic")
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CLOSE_TIMEOUT = 10.0
DEFAULT_RECYCLE_AFTER = 200  # contexts one browser serves before a fresh one replaces it


@dataclass(eq=False)
class _Instance:
    """One launched browser and the bookkeeping of its contexts."""

    browser: Any
    traces_dir: Path
    number: int
    open: int = 0
    served: int = 0
    dead: bool = False
    retiring: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def usable(self) -> bool:
        return not (self.dead or self.retiring) and self.browser.is_connected()


@dataclass(eq=False)
class Lease:
    """A browser context lent to one run; give it back with `BrowserPool.release`."""

    context: Any
    instance: _Instance
    trace_name: str
    tracing: bool
    waited_s: float
    launch_s: float
    released: bool = False


class BrowserPool:
    """A shared browser, relaunched when needed, lending one context per run."""

    def __init__(self, config: BrowserConfig | None = None, *,
                 recycle_after: int = DEFAULT_RECYCLE_AFTER, extra_args: tuple[str, ...] = ()) -> None:
        self.config = config or BrowserConfig()
        self.recycle_after = recycle_after
        self.extra_args = extra_args  # more Chromium flags (`record` opens a DevTools port with one)
        self._slots = asyncio.Semaphore(self.config.max_contexts)
        self._launch_lock = asyncio.Lock()
        self._playwright: Any = None
        self._current: _Instance | None = None
        self._instances: set[_Instance] = set()
        self._numbers = itertools.count(1)
        self._names = itertools.count(1)
        self._open = 0
        self._closed = False
        self._home = Path(tempfile.mkdtemp(prefix="journeyprobe-browser-"))
        self.launches = 0

    # -- state -------------------------------------------------------------------------------
    @property
    def open_contexts(self) -> int:
        """Contexts lent and not yet given back."""
        return self._open

    @property
    def home(self) -> Path:
        """The pool's temporary folder: Chromium's XDG folders and trace scratch files."""
        return self._home

    def is_connected(self) -> bool:
        current = self._current
        return current is not None and current.usable

    # -- lending -----------------------------------------------------------------------------
    async def lease(self, within: float, *, tracing: bool = True,
                    init_scripts: tuple[str, ...] = ()) -> Lease:
        """A fresh context within `within` seconds, else StepError(agent_side=True)."""
        if self._closed:
            raise StepError("the browser pool is closed (the agent is stopping)", ErrorType.AGENT,
                            agent_side=True)
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + within
        try:
            async with asyncio.timeout(max(0.0, within)):
                await self._slots.acquire()
        except TimeoutError:
            raise StepError(f"no browser slot free within {within:.1f}s "
                            f"({self.config.max_contexts} contexts in use; raise browser.max_contexts)",
                            ErrorType.AGENT, agent_side=True) from None
        waited = time.perf_counter() - started
        try:
            lease = await self._new_context(deadline, tracing, init_scripts)
        except BaseException:
            self._slots.release()
            raise
        lease.waited_s = waited
        lease.launch_s = time.perf_counter() - started - waited
        self._open += 1
        return lease

    async def _new_context(self, deadline: float, tracing: bool, init_scripts: tuple[str, ...]) -> Lease:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            instance = await self._instance(deadline)
            async with instance.lock:
                instance.open += 1
                instance.served += 1
                try:
                    async with asyncio.timeout(max(0.1, deadline - loop.time())):
                        context = await instance.browser.new_context()
                        name = f"jp-{instance.number}-{next(self._names)}"
                        try:
                            for script in init_scripts:
                                await context.add_init_script(script)
                            if tracing:
                                await context.tracing.start(name=name, screenshots=True, snapshots=True)
                        except BaseException:
                            with contextlib.suppress(Exception):
                                await context.close()
                            raise
                except TimeoutError:
                    instance.open -= 1
                    raise StepError("the browser did not open a context in time", ErrorType.AGENT,
                                    agent_side=True) from None
                except Exception as exc:
                    instance.open -= 1
                    if instance.browser.is_connected() and attempt == 1:
                        instance.dead = True  # answers but cannot open contexts: start over
                    if attempt == 2 or loop.time() >= deadline:
                        raise StepError(f"the browser could not open a context: {_first_line(exc)}",
                                        ErrorType.AGENT, agent_side=True) from None
                    log.warning("the browser could not open a context (%s); relaunching", _first_line(exc))
                    continue
                except BaseException:
                    instance.open -= 1
                    raise
            if instance.served >= self.recycle_after:
                instance.retiring = True  # new runs go to a fresh browser; this one closes when idle
            return Lease(context, instance, name, tracing, 0.0, 0.0)
        raise AssertionError("unreachable")

    async def release(self, lease: Lease) -> None:
        """Close the run's context (always) and free its slot; safe to call twice."""
        if lease.released:
            return
        lease.released = True
        instance = lease.instance
        try:
            if instance.browser.is_connected():
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSE_TIMEOUT):
                        await lease.context.close()
        finally:
            self._open -= 1
            self._slots.release()
            instance.open -= 1
            await self._after_release(instance)

    async def _after_release(self, instance: _Instance) -> None:
        if instance.open > 0:
            return
        if instance.retiring or instance.dead or not instance.browser.is_connected():
            await self._retire(instance)
            return
        async with instance.lock:  # no context is being created: scratch trace files are unused
            if instance.open == 0:
                await asyncio.to_thread(_empty_folder, instance.traces_dir)

    async def _retire(self, instance: _Instance) -> None:
        if instance not in self._instances:
            return
        self._instances.discard(instance)
        if self._current is instance:
            self._current = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await instance.browser.close()
        await asyncio.to_thread(shutil.rmtree, instance.traces_dir, True)

    # -- launching ---------------------------------------------------------------------------
    async def _instance(self, deadline: float) -> _Instance:
        current = self._current
        if current is not None and current.usable:
            return current
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                async with self._launch_lock:
                    current = self._current
                    if current is not None and current.usable:
                        return current
                    if current is not None:
                        old, self._current = current, None
                        if old.open == 0:
                            await self._retire(old)
                    launch_timeout = min(self.config.launch_timeout, max(0.1, deadline - loop.time()))
                    self._current = await self._launch(launch_timeout)
                    return self._current
        except TimeoutError:
            raise StepError("Chromium did not start in time (waiting for the browser is not the "
                            "target's fault)", ErrorType.AGENT, agent_side=True) from None

    async def _launch(self, within: float) -> _Instance:
        if self._closed:
            raise StepError("the browser pool is closed", ErrorType.AGENT, agent_side=True)
        playwright = await self._driver()
        executable = self.executable(playwright)
        number = next(self._numbers)
        traces = self._home / f"traces-{number}"
        traces.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "XDG_CONFIG_HOME": str(self._home / "xdg-config"),
               "XDG_CACHE_HOME": str(self._home / "xdg-cache")}
        started = time.perf_counter()
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable, headless=self.config.headless, args=[*CHROMIUM_ARGS, *self.extra_args],
                env=env, traces_dir=str(traces), timeout=within * 1000, handle_sigint=False,
                handle_sigterm=False, handle_sighup=False)
        except Exception as exc:
            shutil.rmtree(traces, ignore_errors=True)
            await self._stop_driver()  # a broken driver is started afresh next time
            raise StepError(f"could not launch Chromium ({executable or 'Playwright build'}): "
                            f"{_first_line(exc)}", ErrorType.AGENT, agent_side=True) from None
        self.launches += 1
        instance = _Instance(browser, traces, number)
        self._instances.add(instance)
        browser.on("disconnected", lambda _browser: self._disconnected(instance))
        log.info("launched Chromium %s (%s) in %.2fs", browser.version, executable or "Playwright build",
                 time.perf_counter() - started)
        return instance

    def _disconnected(self, instance: _Instance) -> None:
        if not instance.retiring and not self._closed:
            log.warning("Chromium disconnected (crashed or killed); the next run relaunches it")
        instance.dead = True
        if self._current is instance:
            self._current = None
        if instance.open == 0:
            self._instances.discard(instance)
            shutil.rmtree(instance.traces_dir, ignore_errors=True)

    def executable(self, playwright: Any) -> str | None:
        """The configured Chromium, else Playwright's own build when installed (None), else the system's."""
        if self.config.executable_path:
            return self.config.executable_path
        own = getattr(playwright.chromium, "executable_path", "")
        if own and Path(own).exists():
            return None
        for name in SYSTEM_CHROMIUM:
            found = shutil.which(name)
            if found:
                return found
        raise StepError("no Chromium found: install Playwright's (playwright install chromium) or Debian's "
                        "(apt-get install chromium), or set browser.executable_path", ErrorType.AGENT,
                        agent_side=True)

    async def _driver(self) -> Any:
        if self._playwright is None:
            # Importing Playwright takes ~150 ms of CPU: in a thread, so that the runs under way
            # (their timers, their responses) are not held up while the first browser starts.
            module = await asyncio.to_thread(importlib.import_module, "playwright.async_api")
            self._playwright = await module.async_playwright().start()
        return self._playwright

    async def _stop_driver(self) -> None:
        driver, self._playwright = self._playwright, None
        if driver is not None:
            with contextlib.suppress(Exception):
                await driver.stop()

    # -- closing -----------------------------------------------------------------------------
    async def close(self) -> None:
        """Close every browser and the Playwright driver; remove the temporary folder. Idempotent."""
        self._closed = True
        self._current = None
        for instance in list(self._instances):
            await self._retire(instance)
        await self._stop_driver()
        await asyncio.to_thread(shutil.rmtree, self._home, True)


def _empty_folder(folder: Path) -> None:
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def _first_line(exc: BaseException) -> str:
    frame = set("=╔╗╚╝║ ")
    lines = [line.strip() for line in str(exc).splitlines()
             if line.strip() and not set(line.strip()) <= frame]
    return (lines[0] if lines else type(exc).__name__)[:300]


def pool_for(resources: ProbeResources) -> BrowserPool:
    """The pool shared by every run of one Runner; created on first use from `resources.browser`."""
    pool = resources.browser_pool
    if not isinstance(pool, BrowserPool):
        config = resources.browser
        pool = BrowserPool(config, recycle_after=config.recycle_after if config else DEFAULT_RECYCLE_AFTER)
        resources.browser_pool = pool
    return pool
