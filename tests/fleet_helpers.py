"""Real Prometheus, Alertmanager and a webhook receiver for the fleet tests (no tests here)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from tests.conftest import free_port
from tests.prom_helpers import stop

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
SHIPPED_AM_CONFIG = Path(__file__).parent.parent / "deploy" / "alertmanager" / "alertmanager.yml"


def installed(*paths: str) -> bool:
    return all(os.access(p, os.X_OK) for p in paths)


async def until(check: Callable[[], Awaitable[Any]], within: float, what: str, every: float = 0.25) -> Any:
    """Poll `check` until it returns something true; AssertionError naming `what` after `within` seconds
    (a safety net: the wait ends on the event itself)."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(every)
    raise AssertionError(f"{what}: not within {within:g}s (last: {last!r})")


async def run_tool(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(errors="replace")


@asynccontextmanager
async def process(*args: str, log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process, its output in `log`, stopped with SIGTERM (then SIGKILL) at the end."""
    with log.open("wb") as out:
        child = await asyncio.create_subprocess_exec(*args, stdout=out, stderr=asyncio.subprocess.STDOUT)
        try:
            yield child
        finally:
            await stop(child, within=10)


async def wait_ready(url: str, what: str) -> None:
    async def ready() -> bool:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session, \
                session.get(f"{url}/-/ready") as response:
            return response.status == 200
    await until(ready, 60, f"{what} at {url} ready")


def adapted_am_config(receiver: str, *, group_wait: str, group_interval: str) -> dict[str, Any]:
    """The shipped Alertmanager config with its webhooks pointed at `receiver` (same paths) and
    shorter waits, everything else (routes, grouping, inhibition) as shipped."""
    config = yaml.safe_load(SHIPPED_AM_CONFIG.read_text())
    for item in config["receivers"]:
        for hook in item.get("webhook_configs", ()):
            path = hook["url"].split("/", 3)[3]
            hook["url"] = f"{receiver}/{path}"
    config["route"].update(group_wait=group_wait, group_interval=group_interval)
    return config


@asynccontextmanager
async def alertmanager(tmp_path: Path, config: dict[str, Any]) -> AsyncIterator[str]:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, out = await run_tool(AMTOOL, "check-config", str(path))
    assert code == 0, out
    port = free_port()
    async with process(ALERTMANAGER, f"--config.file={path}", f"--storage.path={tmp_path / 'am-data'}",
                       f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                       log=tmp_path / "alertmanager.log"):
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, "Alertmanager")
        yield url


@asynccontextmanager
async def prometheus(tmp_path: Path, targets: list[str], rules: str, alertmanager_url: str) -> AsyncIterator[str]:
    """Prometheus scraping `targets` every second and evaluating `rules` every second."""
    (tmp_path / "rules.yaml").write_text(rules)
    code, out = await run_tool(PROMTOOL, "check", "rules", str(tmp_path / "rules.yaml"))
    assert code == 0, out
    am = alertmanager_url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yaml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am]}]}]},
        "scrape_configs": [{"job_name": "journeyprobe", "static_configs": [{"targets": targets}]}],
    }))
    code, out = await run_tool(PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml"))
    assert code == 0, out
    port = free_port()
    async with process(PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                       "--log.level=warn", log=tmp_path / "prometheus.log"):
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, "Prometheus")
        yield url


async def promql(url: str, expr: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.get(f"{url}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.get(url) as response:
        assert response.status == 200, url
        return await response.json()


@dataclass
class Receiver:
    """Alertmanager's webhook notifications, in arrival order: (path, payload)."""

    url: str = ""
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, slo: str, status: str | None = None) -> list[dict[str, Any]]:
        return [body for _, body in self.notifications if body["groupLabels"].get("slo") == slo
                and (status is None or body["status"] == status)]

    def announcements(self, slo: str) -> list[dict[str, Any]]:
        """Notifications that announce an alert firing that no earlier notification of its group
        announced since the group last resolved: what pages a person. (Alertmanager also sends
        group updates, e.g. when one of two locations has recovered; those page no one anew.)"""
        out, known = [], set()
        for body in self.of(slo):
            firing = {_fingerprint(a) for a in body["alerts"] if a["status"] == "firing"}
            resolved = {_fingerprint(a) for a in body["alerts"] if a["status"] != "firing"}
            if firing - known:
                out.append(body)
            known = (known | firing) - resolved
        return out


def _fingerprint(alert: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(alert["labels"].items()))


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    """An aiohttp server taking Alertmanager's webhook POSTs on any path."""
    seen = Receiver()

    async def hook(request: web.Request) -> web.Response:
        seen.notifications.append((request.path, await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/{path:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    seen.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield seen
    finally:
        await runner.cleanup()
