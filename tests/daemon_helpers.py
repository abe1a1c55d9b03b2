"""Starting a daemon for tests: in-process, or as a real `journeyprobe run` subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from agent.config.models import AgentConfig
from agent.daemon.lifecycle import Daemon


def http_journey(name: str, url: str, *, interval: str = "1s", expect: str = "status == 200",
                 extra: str = "") -> str:
    return (f"name: {name}\ninterval: {interval}\n{extra}steps:\n  - name: get\n    http: {{url: '{url}'}}\n"
            f"    expect: ['{expect}']\n")


def config(tmp_path: Path, **overrides: Any) -> AgentConfig:
    data: dict[str, Any] = {"location": "test", "server": {"listen": "127.0.0.1:0"},
                            "storage": {"path": str(tmp_path / "store.db"), "flush_interval": "100ms"},
                            "reload_poll": "200ms", "grace": "2s", "artifacts": str(tmp_path / "artifacts")}
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    return AgentConfig.model_validate(data)


@asynccontextmanager
async def running_daemon(cfg: AgentConfig, paths: list[str]) -> AsyncIterator[Daemon]:
    daemon = Daemon(cfg, paths)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


async def wait_for(predicate: Any, timeout: float = 10.0, every: float = 0.05) -> Any:
    """Poll an (async) predicate until it returns something true, within a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


async def get_json(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(url, headers=headers) as response:
            body = await response.text()
            try:
                import json

                return response.status, json.loads(body)
            except ValueError:
                return response.status, body


async def start_agent_process(args: list[str], cwd: Path, env: dict[str, str] | None = None
                              ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})


async def wait_for_line(stream: asyncio.StreamReader, needle: str, timeout: float = 20.0) -> str:
    """Read lines until one contains `needle`; returns it (bounded in time)."""
    async def scan() -> str:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"stream ended before {needle!r}")
            if needle in line:
                return line
    return await asyncio.wait_for(scan(), timeout)


def name_due_soon(prefix: str, interval: float, within: tuple[float, float] = (1.0, 3.0),
                  startup: float = 0.0, location: str = "") -> str:
    """A journey name whose first due time, at `location`, falls `within` seconds from now (plus `startup`)."""
    from agent.daemon.scheduler import schedule_offset

    now = time.time() + startup
    for i in range(100_000):
        name = f"{prefix}{i}"
        offset = schedule_offset(name, interval, location)
        wait = (offset - now) % interval
        if within[0] <= wait <= within[1]:
            return name
    raise AssertionError("no name found")
