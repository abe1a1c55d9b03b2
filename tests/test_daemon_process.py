"""`journeyprobe run` as a real process: signals, exit codes, logs, and what a kill -9 loses."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from pathlib import Path

from tests.conftest import free_port
from tests.daemon_helpers import (
    get_json,
    http_journey,
    name_due_soon,
    start_agent_process,
    wait_for,
    wait_for_line,
)
from tests.targets import Seen

SECRET = "very-secret-pw-123"


def write_config(tmp_path: Path, port: int, **extra: str) -> Path:
    lines = ["location: proc", f"server: {{listen: '127.0.0.1:{port}'}}",
             f"storage: {{path: '{tmp_path / 'store.db'}', flush_interval: 200ms, batch_size: 50}}",
             "reload_poll: 60s", *(f"{k}: {v}" for k, v in extra.items())]
    path = tmp_path / "agent.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_sigterm_exits_0_quickly_and_flushes(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    (tmp_path / "j.yaml").write_text(http_journey("quick", f"{url}/json", interval="1s",
                                                  extra="variables: {pw: '{{ secret.PW }}'}\n"))
    port = free_port()
    cfg = write_config(tmp_path, port)
    process = await start_agent_process(["run", "--config", str(cfg), "--log-format", "json",
                                         str(tmp_path / "j.yaml")], tmp_path, env={"PW": SECRET})
    assert process.stderr is not None
    line = await wait_for_line(process.stderr, '"logger": "journeyprobe.runs"')
    entry = json.loads(line)
    assert entry["journey"] == "quick" and entry["outcome"] == "success" and len(entry["trace_id"]) == 32
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 20)
    elapsed = time.monotonic() - started
    assert process.returncode == 0
    assert elapsed < 9, elapsed  # it did not wait out the 10 s grace: no run was in flight
    assert SECRET not in err.decode() + line
    with sqlite3.connect(tmp_path / "store.db") as db:
        stored = db.execute("select count(*) from runs").fetchone()[0]
    assert stored >= 1


async def test_grace_then_cancel_hanging_run_as_error(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, seen = target
    name = name_due_soon("stuck", 60, within=(1.0, 4.0), startup=1.5, location="proc")
    (tmp_path / "j.yaml").write_text(http_journey(name, f"{url}/hang", interval="60s", extra="timeout: 50s\n"))
    port = free_port()
    cfg = write_config(tmp_path, port, grace="1s")
    process = await start_agent_process(["run", "--config", str(cfg), str(tmp_path / "j.yaml")], tmp_path)
    # the run starts within its interval's offset; wait until the target saw it
    await wait_for(lambda: any(r["path"] == "/hang" for r in seen.requests), timeout=20, every=0.1)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
    assert 0.9 < time.monotonic() - started < 15  # the 1 s grace, then cancelled: not the run's 50 s timeout
    with sqlite3.connect(tmp_path / "store.db") as db:
        rows = db.execute("select outcome, error_type from runs").fetchall()
    assert rows == [("error", "cancelled")]


async def test_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.yaml"
    cfg.write_text("location: x\nconcurrency: many\n")
    process = await start_agent_process(["run", "--config", str(cfg)], tmp_path)
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert f"{cfg}:2: concurrency" in err.decode()


async def test_sighup_reloads(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "a.yaml").write_text(http_journey("alpha", f"{url}/json", interval="30s"))
    port = free_port()
    cfg = write_config(tmp_path, port)
    process = await start_agent_process(["run", "--config", str(cfg), str(journeys)], tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"

        async def ready() -> bool:
            try:
                return (await get_json(f"{base}/readyz"))[0] == 200
            except OSError:
                return False

        await wait_for(ready, timeout=20)
        (journeys / "b.yaml").write_text(http_journey("beta", f"{url}/json", interval="30s"))
        process.send_signal(signal.SIGHUP)

        async def two() -> bool:
            return len((await get_json(f"{base}/api/v1/journeys"))[1]) == 2

        await wait_for(two, timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0


async def test_kill_9_loses_at_most_one_batch(tmp_path: Path, target: tuple[str, Seen]) -> None:
    """Many quick journeys; kill -9 mid-way; restart on the same store; count what was lost."""
    url, _ = target
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    for i in range(40):
        (journeys / f"j{i}.yaml").write_text(http_journey(f"j{i}", f"{url}/json", interval="1s"))
    port = free_port()
    cfg = write_config(tmp_path, port, concurrency="100")
    process = await start_agent_process(["run", "--config", str(cfg), "--log-format", "json", str(journeys)],
                                        tmp_path)
    assert process.stderr is not None
    logged = 0
    deadline = time.monotonic() + 30
    while logged < 150 and time.monotonic() < deadline:
        line = (await asyncio.wait_for(process.stderr.readline(), 10)).decode()
        if '"journeyprobe.runs"' in line:
            logged += 1
    process.kill()
    await process.wait()
    # every logged run was handed to the store; what was not yet committed is the loss
    with sqlite3.connect(tmp_path / "store.db") as db:
        stored = db.execute("select count(*) from runs").fetchone()[0]
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    lost = max(0, logged - stored)
    print(f"kill -9: {logged} runs logged, {stored} in the store, {lost} lost (batch_size 50, flush 200ms)")
    assert logged >= 150
    assert lost <= 50
    restart = await start_agent_process(["run", "--config", str(cfg), str(journeys)], tmp_path)
    try:
        async def ready() -> bool:
            try:
                return (await get_json(f"http://127.0.0.1:{port}/readyz"))[0] == 200
            except OSError:
                return False

        await wait_for(ready, timeout=20)
    finally:
        restart.send_signal(signal.SIGTERM)
        await asyncio.wait_for(restart.communicate(), 20)
    assert restart.returncode == 0
