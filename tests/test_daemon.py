"""The daemon in-process: scheduling into the store, the HTTP API, the token, reload."""

from __future__ import annotations

from pathlib import Path

from tests.daemon_helpers import config, get_json, http_journey, running_daemon, wait_for
from tests.targets import Seen


async def test_runs_land_in_store_and_api(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    (tmp_path / "ok.yaml").write_text(http_journey("quick", f"{url}/json", extra="labels: {team: web}\n"))
    async with running_daemon(config(tmp_path), [str(tmp_path / "*.yaml")]) as daemon:
        base = daemon.base_url
        assert (await get_json(f"{base}/healthz"))[0] == 200
        status, ready = await get_json(f"{base}/readyz")
        assert status == 200 and ready["ready"] is True and ready["journeys"] == 1

        async def two_runs() -> list | None:  # type: ignore[type-arg]
            code, runs = await get_json(f"{base}/api/v1/journeys/quick/runs?limit=5")
            return runs if code == 200 and len(runs) >= 2 else None

        runs = await wait_for(two_runs, timeout=8)
        assert runs[0]["journey"] == "quick" and runs[0]["outcome"] == "success"
        assert runs[0]["started_at"] > runs[1]["started_at"]  # newest first
        assert runs[0]["location"] == "test"
        status, journeys = await get_json(f"{base}/api/v1/journeys")
        assert status == 200
        assert journeys[0]["name"] == "quick" and journeys[0]["interval_s"] == 1.0
        assert journeys[0]["labels"] == {"team": "web"}
        assert journeys[0]["last_run"]["outcome"] == "success"
        assert (await get_json(f"{base}/api/v1/journeys/nope/runs"))[0] == 404
        assert (await get_json(f"{base}/api/v1/journeys/quick/runs?limit=x"))[0] == 400


async def test_token_guards_everything_but_the_probes(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    (tmp_path / "ok.yaml").write_text(http_journey("quick", f"{url}/json"))
    cfg = config(tmp_path, server={"listen": "127.0.0.1:0", "token": "s3cret-token"})
    async with running_daemon(cfg, [str(tmp_path / "ok.yaml")]) as daemon:
        base = daemon.base_url
        assert (await get_json(f"{base}/healthz"))[0] == 200
        assert await get_json(f"{base}/readyz") == (200, {"ready": True})  # details: test_status_page_auth
        for path in ("/api/v1/journeys", "/api/v1/journeys/quick/runs", "/api/v1/slos", "/metrics"):
            assert (await get_json(base + path))[0] == 401, path
            assert (await get_json(base + path, token="wrong"))[0] == 401, path
            assert (await get_json(base + path, token="s3cret-token"))[0] == 200, path


async def test_reload_good_and_broken_sets(tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    first = tmp_path / "a.yaml"
    first.write_text(http_journey("alpha", f"{url}/json"))
    async with running_daemon(config(tmp_path), [str(tmp_path / "*.yaml")]) as daemon:
        base = daemon.base_url
        alpha_before = daemon.scheduler.stats["alpha"]
        (tmp_path / "b.yaml").write_text(http_journey("beta", f"{url}/json"))

        async def has_beta() -> bool:
            _, journeys = await get_json(f"{base}/api/v1/journeys")
            return {j["name"] for j in journeys} == {"alpha", "beta"}

        await wait_for(has_beta, timeout=5)
        assert daemon.scheduler.stats["alpha"] is alpha_before  # unchanged journey undisturbed

        (tmp_path / "b.yaml").write_text("name: beta\nretries: 3\nsteps: []\n")  # broken

        async def rejected() -> dict | None:  # type: ignore[type-arg]
            _, ready = await get_json(f"{base}/readyz")
            return ready if ready["reload_errors"] else None

        ready = await wait_for(rejected, timeout=5)
        assert any("b.yaml:2: unknown key 'retries'" in e for e in ready["reload_errors"])
        _, journeys = await get_json(f"{base}/api/v1/journeys")
        assert {j["name"] for j in journeys} == {"alpha", "beta"}  # the last good set keeps running
        started = daemon.scheduler.stats["alpha"].started
        await wait_for(lambda: daemon.scheduler.stats["alpha"].started > started, timeout=4)

        (tmp_path / "b.yaml").unlink()
        await wait_for(lambda: set(daemon.state.journeys) == {"alpha"}, timeout=5)
        assert daemon.state.reload_errors == []


async def test_broken_journeys_at_start_raise(tmp_path: Path) -> None:
    import pytest

    from agent.daemon.lifecycle import Daemon
    from agent.journey.loader import LoadError

    (tmp_path / "bad.yaml").write_text("name: Bad Name\nsteps: []\n")
    daemon = Daemon(config(tmp_path), [str(tmp_path / "bad.yaml")])
    with pytest.raises(LoadError):
        await daemon.start()


async def test_shard_runs_only_its_share(tmp_path: Path, target: tuple[str, Seen]) -> None:
    from agent.config.shard import owns

    url, _ = target
    names = [f"j{i}" for i in range(12)]
    for name in names:
        (tmp_path / f"{name}.yaml").write_text(http_journey(name, f"{url}/json", interval="30s"))
    async with running_daemon(config(tmp_path, shard="2/3"), [str(tmp_path)]) as daemon:
        assert set(daemon.state.journeys) == {n for n in names if owns(n, 2, 3)}
        assert 0 < len(daemon.state.journeys) < len(names)
