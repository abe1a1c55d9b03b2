"""A real Prometheus for tests: start one on a config, query it, poll until it has seen something, stop it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import free_port

PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"


def needs_prometheus() -> None:
    """Skip the calling test when Debian's prometheus package is not installed."""
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.skip(f"{PROMETHEUS} is not installed (apt-get install prometheus)")


def scrape_every_second(tmp: Path, target: str) -> Path:
    """A prometheus.yml that scrapes `target` (host:port) every second and evaluates every second."""
    config = tmp / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: journeyprobe
    static_configs: [{{targets: ["{target}"]}}]
""")
    return config


async def start_prometheus(config: Path, tmp: Path) -> tuple[asyncio.subprocess.Process, str]:
    """Prometheus on `config`, its TSDB under `tmp`, on a free port of 127.0.0.1: the process and its URL."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


async def stop(process: asyncio.subprocess.Process, within: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited `within` seconds; its exit code."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
    return process.returncode if process.returncode is not None else -1


async def prometheus_starter(tmp: Path) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """The body of a `prometheus` fixture: `await start("host:port")` -> the URL of a Prometheus scraping it."""
    needs_prometheus()
    processes: list[asyncio.subprocess.Process] = []

    async def start(target: str) -> str:
        process, url = await start_prometheus(scrape_every_second(tmp, target), tmp)
        processes.append(process)
        return url

    yield start
    for process in processes:
        await stop(process)


async def query(session: aiohttp.ClientSession, base: str, expr: str) -> list[dict[str, Any]]:
    """An instant PromQL query's result list."""
    async with session.get(f"{base}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


async def poll(check: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    """Poll `check` until it returns something true (a refused connection or a slow answer counts
    as not yet); `within` seconds is only a safety net, and running out of it fails with `what`."""
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    value = await check()
                except (aiohttp.ClientError, TimeoutError):  # the outer deadline cancels, it does not raise here
                    value = None
                if value:
                    return value
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{what} (within {within:g}s)") from None
