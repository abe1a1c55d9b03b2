"""A real Alertmanager (Debian's binary) receives our alerts over API v2 and lists them."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exporters.alerting import RetryPolicy, SinkWorker
from exporters.notify_alertmanager import AlertmanagerSender
from tests.conftest import free_port
from tests.test_alert_senders import note

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
CONFIG = """\
route:
  receiver: "null"
  group_by: [alertname, slo]
receivers:
  - name: "null"
"""

pytestmark = pytest.mark.skipif(not Path(BINARY).exists(), reason="prometheus-alertmanager is not installed")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "am.yml").write_text(CONFIG)
    port = free_port()
    log = (tmp_path / "am.log").open("wb")
    proc = subprocess.Popen(
        [BINARY, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


async def wait_ready(url: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"Alertmanager at {url} not ready within {deadline_s}s")


async def listed(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.get(f"{url}/api/v2/alerts") as response:
        assert response.status == 200
        return await response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def worker(alertmanager: str) -> AsyncIterator[SinkWorker]:
    await wait_ready(alertmanager)
    sink = SinkWorker(AlertmanagerSender(alertmanager, resend_every=30),
                      retry=RetryPolicy(attempts=3, base_delay=0.1, timeout=5, max_total=10))
    sink.start()
    yield sink
    await sink.close(grace=1)


async def test_alertmanager_lists_our_alert_with_its_labels(alertmanager: str, worker: SinkWorker) -> None:
    now = time.time()
    worker.submit(note("firing", since=now - 60, at=now))
    assert await worker.drain(10) and worker.sent == 1, worker.failed
    [alert] = await listed(alertmanager)
    assert alert["labels"] == {"alertname": "SLOBurnRate", "slo": "checkout-success",
                               "journey_name": "checkout",
                               "severity": "page", "owner": "Head of Product",
                               "probe_location": "tokyo-1"}
    assert alert["annotations"]["summary"].startswith("Checkout success is burning its error budget 14.9x")
    assert alert["annotations"]["budget_left"] == "63%"
    assert alert["annotations"]["status_page"] == "http://status.example:9464"
    assert alert["generatorURL"] == "http://status.example:9464"
    assert alert["status"]["state"] == "active"

    worker.submit(note("resolved", since=now - 60, at=time.time()))
    assert await worker.drain(10) and worker.sent == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a resolved alert leaves the list of current alerts
        if not [a for a in await listed(alertmanager) if a["status"]["state"] == "active"]:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the resolved alert is still active")
