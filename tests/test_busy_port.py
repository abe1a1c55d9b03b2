"""A port that is taken: one line naming it and the flag or key that changes it, exit 2, nothing started."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_check_cli import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("flags", "hint"), [
    (["--port", "{port}", "--shop-port", "0"], "choose another with --port (0 picks a free one)"),
    (["--port", "0", "--shop-port", "{port}"], "choose another with --shop-port (0 picks a free one)"),
], ids=["agent-port", "shop-port"])
async def test_demo_on_a_busy_port(tmp_path: Path, taken: int, flags: list[str], hint: str) -> None:
    args = [flag.format(port=taken) for flag in flags]
    code, out, err = await cli("demo", *args, "--store", str(tmp_path / "demo.db"), cwd=tmp_path)
    assert code == 2
    assert err == f"127.0.0.1:{taken} is already in use (another journeyprobe?): {hint}\n"
    assert "Traceback" not in err and "demo shop:" not in out
    assert not (tmp_path / "demo.db").exists()


async def test_run_on_a_busy_port_names_the_config_key(tmp_path: Path, taken: int) -> None:
    code, _, err = await cli("run", str(ROOT / "journeys"), cwd=tmp_path,
                             env={"JOURNEYPROBE_SERVER_LISTEN": f"127.0.0.1:{taken}"})
    assert code == 2
    assert err.strip() == (
        f"127.0.0.1:{taken} is already in use (another journeyprobe?): set server.listen in agent.yaml or "
        "JOURNEYPROBE_SERVER_LISTEN (port 0 picks a free one)")
    assert "Traceback" not in err
    assert not (tmp_path / "journeyprobe.db").exists()  # nothing half-done: no store was created
