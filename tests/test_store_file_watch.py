"""The store's file deleted under a running daemon: an error line, /readyz 503 while it cannot be
reopened, and every result, before and after, in the file at the path in the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

from tests.conftest import free_port
from tests.daemon_helpers import get_json, http_journey, start_agent_process, wait_for, wait_for_line
from tests.targets import Seen

NAME = "watched"


def stored(path: Path) -> list[float]:
    """started_at of every run in the file at `path` (a fresh connection: what is on disk now)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT started_at FROM runs ORDER BY started_at")]


def trace_ids(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT trace_id FROM runs")}


async def committed(base: str) -> int:
    status, runs = await get_json(f"{base}/api/v1/journeys/{NAME}/runs?limit=1000")
    return len(runs) if status == 200 else 0


async def test_a_deleted_store_file_is_reported_and_reopened_with_its_history(
        tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    data = tmp_path / "data"
    data.mkdir()
    store = data / "store.db"
    (tmp_path / "j.yaml").write_text(http_journey(NAME, f"{url}/json", interval="1s"))
    port = free_port()
    (tmp_path / "agent.yaml").write_text(
        f"location: watch\nserver: {{listen: '127.0.0.1:{port}'}}\nreload_poll: 60s\n"
        f"storage: {{path: '{store}', flush_interval: 100ms, batch_size: 1}}\n")
    base = f"http://127.0.0.1:{port}"
    process = await start_agent_process(["run", "--config", str(tmp_path / "agent.yaml"), "--log-format", "json",
                                         str(tmp_path / "j.yaml")], tmp_path)
    assert process.stderr is not None
    try:
        await wait_for_line(process.stderr, '"logger": "journeyprobe.runs"')
        await wait_for(lambda: committed(base), timeout=10)
        before = len(stored(store))

        # 1. the file alone is deleted: its history is copied to a new file at the path, and runs go on there
        deleted_at = time.time()
        store.unlink()
        line = json.loads(await wait_for_line(process.stderr, "was deleted while the agent had it open"))
        assert line["level"] == "error" and str(store) in line["msg"]
        await wait_for_line(process.stderr, "reopened")
        await wait_for(lambda: store.exists() and any(t > deleted_at for t in stored(store)), timeout=10)
        assert len(stored(store)) > before  # the runs before the deletion are there too
        status, ready = await get_json(f"{base}/readyz")
        assert status == 200, ready

        # 2. the folder goes too: nothing can be written, /readyz says why; back when the folder is
        shutil.rmtree(data)
        gone_at = time.time()
        await wait_for_line(process.stderr, "was deleted while the agent had it open")

        async def not_ready() -> dict[str, object] | None:
            status, body = await get_json(f"{base}/readyz")
            return body if status == 503 else None

        body = await wait_for(not_ready, timeout=10)
        assert any(str(store) in reason and "deleted" in reason for reason in body["reasons"]), body
        await wait_for_line(process.stderr, "cannot reopen it yet")
        held = json.loads(await wait_for_line(process.stderr, '"logger": "journeyprobe.runs"'))  # a run meanwhile
        data.mkdir()
        await wait_for_line(process.stderr, "reopened")
        await wait_for(lambda: held["trace_id"] in trace_ids(store), timeout=10)  # it waited, then was written
        status, ready = await get_json(f"{base}/readyz")
        assert status == 200, ready
        times = stored(store)
        assert sum(t < deleted_at for t in times) >= before  # nothing from before either deletion is lost
        assert any(t > gone_at for t in times)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, err.decode()[-2000:]
    assert "Traceback" not in err.decode()
    assert not [p for p in os.listdir(data) if ".rescue-" in p]


async def test_a_replaced_store_file_is_used_and_the_old_history_kept_beside_it(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from agent.probe.result import Outcome, RunResult
    from agent.store.sqlite import Store

    def result(i: int) -> RunResult:
        return RunResult(journey="j", outcome=Outcome.SUCCESS, started_at=datetime.now(UTC), duration_s=0.1,
                         trace_id=f"{i:032x}")

    path = tmp_path / "store.db"
    store = await Store.open(path, flush_interval=0.05)
    try:
        for i in range(3):
            await store.add(result(i))
        await store.flush()
        other = await Store.open(tmp_path / "other.db")  # an operator puts another store in its place
        await other.add(result(100))
        await other.close()
        os.replace(tmp_path / "other.db", path)
        await store.add(result(3))
        await store.flush()
        assert store.healthy() and store.problem() is None
        assert trace_ids(path) == {f"{i:032x}" for i in (100, 3)}
        [aside] = [tmp_path / name for name in os.listdir(tmp_path) if name.startswith("store.db.replaced-")]
        assert trace_ids(aside) == {f"{i:032x}" for i in range(3)}
        assert await store.run_count() == 2  # the reader follows too
    finally:
        await store.close()
