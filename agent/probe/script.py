"""The `script:` step: `module:function`, a Python function kept next to the journey file.

`script: journeys_ext.checkout:verify_receipt` loads `<journey folder>/journeys_ext/checkout.py`
(reloaded when the file changes) and awaits `verify_receipt(ctx)` with a `ScriptContext`.
An AssertionError fails the step (outcome failure); any other exception is an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp

from agent.core import redaction
from agent.journey.model import Step
from agent.journey.variables import Variables
from agent.probe.artifacts import drop_secret_holders
from agent.probe.browser.run import BrowserRun, current_run, open_run
from agent.probe.context import RunContext, StepError
from agent.probe.http.session import run_session
from agent.probe.result import ErrorType, Outcome, StepResult

SETUP_MARGIN = 0.05
_MODULES: dict[Path, tuple[int, ModuleType]] = {}


class ScriptVars(MutableMapping[str, Any]):
    """The run's variables as a dict: reads see extractions and earlier steps; writes go to later steps."""

    def __init__(self, variables: Variables) -> None:
        self._variables = variables

    def __getitem__(self, key: str) -> Any:
        if key in ("env", "secret"):
            raise KeyError(key)
        return self._variables.values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in ("env", "secret"):
            raise KeyError(f"{key} is reserved")
        self._variables.set(key, value)

    def __delitem__(self, key: str) -> None:
        if key in ("env", "secret"):
            raise KeyError(key)
        del self._variables.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables.public())

    def __len__(self) -> int:
        return len(self._variables.public())


class ScriptContext:
    """What a script function gets: the run's page, HTTP session, variables, logger and trace id."""

    def __init__(self, ctx: RunContext, step: Step, page: Any) -> None:
        self._ctx = ctx
        self.page = page
        self.vars = ScriptVars(ctx.variables)
        self.log = logging.getLogger(f"journeyprobe.script.{ctx.journey.name}")
        self.trace_id = ctx.trace_id
        self.journey = ctx.journey.name
        self.step = step.name

    @property
    def http(self) -> aiohttp.ClientSession:
        """The run's aiohttp session: cookies are shared with the run's http steps."""
        return run_session(self._ctx)

    def remaining(self) -> float:
        """Seconds left before the run's deadline."""
        return self._ctx.remaining()


def module_path(reference: str, source: str | None) -> tuple[Path, str]:
    """The file of `module:function` next to the journey file (the working folder when there is none)."""
    module, _, function = reference.partition(":")
    base = Path(source).resolve().parent if source else Path.cwd()
    candidate = base.joinpath(*module.split("."))
    path = candidate.with_suffix(".py")
    if not path.is_file() and (candidate / "__init__.py").is_file():
        path = candidate / "__init__.py"
    return path, function


def load_function(reference: str, source: str | None) -> Callable[..., Any]:
    """The script function; modules are cached by path and modification time. StepError when missing."""
    path, function = module_path(reference, source)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        where = f"next to {source}" if source else "in the working folder (the journey has no file)"
        raise StepError(f"script {reference}: no module file {path} {where}", ErrorType.SCRIPT) from None
    cached = _MODULES.get(path)
    module = cached[1] if cached and cached[0] == mtime else _import(reference, path)
    _MODULES[path] = (mtime, module)
    target = getattr(module, function, None)
    if target is None or not callable(target):
        raise StepError(f"script {reference}: {path} has no function {function!r}", ErrorType.SCRIPT)
    return target  # type: ignore[no-any-return]


def _import(reference: str, path: Path) -> ModuleType:
    """Import a file under a private name; its folder is on sys.path only while it loads."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"_journeyprobe_script_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StepError(f"script {reference}: cannot load {path}", ErrorType.SCRIPT)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise StepError(f"script {reference}: importing {path} failed: {type(exc).__name__}: {exc}",
                        ErrorType.SCRIPT) from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


async def execute(step: Step, ctx: RunContext) -> StepResult:
    reference = step.script
    assert reference is not None
    function = load_function(reference, ctx.journey.source)
    loop = asyncio.get_running_loop()
    remaining = ctx.remaining()
    limit = remaining if step.step_timeout is None else min(step.step_timeout, remaining)
    step_end = loop.time() + limit - SETUP_MARGIN
    run: BrowserRun | None = current_run(ctx)
    if any(s.browser for s in ctx.journey.steps) or run is not None:
        run = await open_run(ctx, max(0.0, step_end - loop.time()))
    if run is not None:
        run.until = step_end
    vitals_from = len(run.vitals) if run else 0
    started = time.perf_counter()
    outcome, error_type, message = Outcome.SUCCESS, None, None
    try:
        result = function(ScriptContext(ctx, step, run.page if run else None))
        if inspect.isawaitable(result):
            await result
    except AssertionError as exc:
        outcome, error_type = Outcome.FAILURE, ErrorType.ASSERTION
        message = f"{reference}: {exc}" if str(exc) else f"{reference}: assertion failed {_where(exc)}"
    except Exception as exc:
        outcome, error_type, message = _classify(reference, exc)
    duration = time.perf_counter() - started
    artifacts: list[str] = []
    record: dict[str, Any] = {"action": "script", "target": reference, "outcome": outcome.value,
                              "duration_s": round(duration, 4)}
    if run is not None:
        await run.snapshot_vitals()
        events = run.take_events()
        if events:
            record["page_errors"] = events
        if outcome is not Outcome.SUCCESS:
            captured = await run.capture_failure(step.name, step_end)
            artifacts = await asyncio.to_thread(drop_secret_holders, captured, ctx.variables.redactor)
    if message:
        record["error"] = message
    redactor = ctx.variables.redactor
    return StepResult(step.name, outcome, duration, kind="script", error=redactor.optional(message),
                      error_type=error_type, actions=(redactor.deep(record),), artifacts=tuple(artifacts),
                      vitals=tuple(redactor.deep(v) for v in run.vitals.take(vitals_from)) if run else ())


def _classify(reference: str, exc: Exception) -> tuple[Outcome, ErrorType, str]:
    text = redaction.cut(str(exc).strip().splitlines()[0], 500) if str(exc).strip() else ""
    described = f"{reference}: {type(exc).__name__}" + (f": {text}" if text else "")
    if _playwright_timeout(exc):
        return Outcome.TIMEOUT, ErrorType.TIMEOUT, described
    return Outcome.ERROR, ErrorType.SCRIPT, described


def _playwright_timeout(exc: Exception) -> bool:
    try:
        from playwright.async_api import TimeoutError as PlaywrightTimeout
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, PlaywrightTimeout)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    code = f": {last.line.strip()}" if last.line else ""
    return f"at {Path(last.filename).name}:{last.lineno}{code}"
