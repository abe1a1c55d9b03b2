"""`workers: N`: worker processes run the journeys, the daemon stores, counts and serves them."""

from __future__ import annotations

import itertools
import os
import signal
from datetime import datetime
from pathlib import Path

import aiohttp

from agent.config.shard import owns
from agent.daemon.worker_link import worker_of
from exporters.prometheus import parse_exposition
from tests.daemon_helpers import config, get_json, http_journey, running_daemon, wait_for
from tests.targets import Seen

NAMES = [f"j{i}" for i in range(8)]


def test_workers_share_the_journeys_evenly_and_apart_from_the_shards() -> None:
    names = [f"journey-{i}" for i in range(2000)]
    two = [worker_of(name, 2) for name in names]
    assert 900 < two.count(0) < 1100
    first_shard = [name for name in names if owns(name, 1, 2)]
    split = [worker_of(name, 2) for name in first_shard]
    assert 0.4 < split.count(0) / len(split) < 0.6  # a shard's journeys still go to both workers


async def metrics(base: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    status, _ = await get_json(f"{base}/readyz")
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        assert response.status == 200 and status == 200
        return parse_exposition(await response.text())


async def test_two_workers_run_every_journey_once_per_interval(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, seen = target
    for name in NAMES:
        (tmp_path / f"{name}.yaml").write_text(http_journey(name, f"{url}/json"))
    cfg = config(tmp_path, workers=2, telemetry={"detail": "requests"})
    async with running_daemon(cfg, [str(tmp_path / "*.yaml")]) as daemon:
        base = daemon.base_url
        assert daemon.workers is not None and daemon.scheduler.journeys == {}  # the daemon runs none itself

        async def all_ran_twice() -> dict[str, float] | None:
            samples = await metrics(base)
            runs = {labels["journey_name"]: value for labels, value in samples.get("journey_runs_total", [])}
            return runs if set(runs) == set(NAMES) and min(runs.values()) >= 2 else None

        runs = await wait_for(all_ran_twice, timeout=30, every=0.2)
        samples = await metrics(base)
        assert {labels["journey_name"] for labels, _ in samples["http_client_request_duration_seconds_count"]} == set(
            NAMES)  # the requests' metrics come back from the workers too
        lateness = samples["journeyprobe_run_start_lateness_seconds_count"][0][1]
        assert lateness >= sum(runs.values()) - len(NAMES)  # the workers' schedule keeping, summed
        status, stored = await get_json(f"{base}/api/v1/journeys/j3/runs?limit=5")
        assert status == 200 and stored and stored[0]["outcome"] == "success"
        starts = sorted(datetime.fromisoformat(r["started_at"].replace("Z", "+00:00")).timestamp() for r in stored)
        assert all(b - a > 0.5 for a, b in itertools.pairwise(starts))  # one run an interval, by one worker
        sent = {h["traceparent"].split("-")[1] for h in seen.headers("/json")}
        assert stored[0]["trace_id"] in sent  # traceparent from the worker that ran it

        (tmp_path / "late.yaml").write_text(http_journey("late", f"{url}/json"))  # a reload reaches the workers

        async def late_ran() -> bool:
            code, found = await get_json(f"{base}/api/v1/journeys/late/runs?limit=1")
            return code == 200 and bool(found)

        await wait_for(late_ran, timeout=20, every=0.2)

        victim = daemon.workers._processes[0]
        assert victim is not None
        os.kill(victim.pid, signal.SIGKILL)  # a worker that dies is started again

        async def replaced() -> bool:
            current = daemon.workers._processes[0]  # type: ignore[union-attr]
            return current is not None and current is not victim and current.returncode is None

        await wait_for(replaced, timeout=20, every=0.2)
        before = (await metrics(base))["journey_runs_total"]
        total = sum(v for _, v in before)
        await wait_for(lambda: _more_runs(base, total + len(NAMES)), timeout=20, every=0.2)
        processes = list(daemon.workers._processes)
    assert all(p is not None and p.returncode is not None for p in processes)  # stopped with the daemon


async def _more_runs(base: str, at_least: float) -> bool:
    samples = await metrics(base)
    return sum(v for _, v in samples.get("journey_runs_total", [])) >= at_least
