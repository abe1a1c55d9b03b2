"""Journey and config files are regular files under a size cap, checked before a byte is read."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config.loader import ConfigError, load_config
from agent.journey.input_file import (
    DEFAULT_MAX_FILE_BYTES,
    MAX_FILE_ENV,
    InputFileError,
    max_file_bytes,
    read_input_file,
)
from agent.journey.loader import MAX_NODES, LoadError, load_journeys
from tests.conftest import free_port
from tests.daemon_helpers import get_json, http_journey, start_agent_process, wait_for, wait_for_line
from tests.targets import Seen
from tests.test_check_cli import cli

BIG = 50 * 1024 * 1024
GOOD = "name: ok\nsteps:\n  - name: get\n    http: {url: 'http://127.0.0.1:9/'}\n"


def sparse(path: Path, size: int = BIG) -> Path:
    """A file of `size` bytes that takes no room on disk (reading it would still cost `size`)."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


async def without_hanging(work: Callable[[], Any], pipe: Path | None = None) -> Any:
    """Run blocking `work` in a thread; if it does not return, unblock a FIFO reader and fail."""
    task = asyncio.ensure_future(asyncio.to_thread(work))
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:
        if pipe is not None:
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))  # a writer that closes: the reader sees EOF
        await task
        raise AssertionError("reading the file blocked")
    return task.result()


def test_a_50_mb_file_is_refused_by_its_size(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as caught:
        read_input_file(sparse(tmp_path / "big.yaml"), DEFAULT_MAX_FILE_BYTES)
    assert str(caught.value) == (f"the file is {BIG} bytes; journey and config files are at most 1048576 bytes "
                                 f"(set {MAX_FILE_ENV} to allow more)")


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(LoadError) as caught:
        load_journeys([str(tmp_path)])
    assert str(caught.value) == (f"{link}: is a character device (/dev/zero), not a regular file: journey and "
                                 "config files must be regular files")


async def test_a_fifo_in_the_folder_is_refused_without_hanging(tmp_path: Path) -> None:
    pipe = fifo(tmp_path / "pipe.yaml")
    (tmp_path / "ok.yaml").write_text(GOOD)
    with pytest.raises(LoadError) as caught:
        await without_hanging(lambda: load_journeys([str(tmp_path)]), pipe)
    assert [str(p) for p in caught.value.problems] == [
        f"{pipe}: is a FIFO (named pipe), not a regular file: journey and config files must be regular files"]


async def test_a_fifo_is_refused_even_if_swapped_in_after_the_check(tmp_path: Path) -> None:
    pipe = fifo(tmp_path / "pipe.yaml")
    from agent.journey import input_file

    def read_fifo_past_the_stat() -> bytes:
        real = input_file._check
        calls: list[int] = []

        def first_check_passes(path: Path, info: os.stat_result, limit: int) -> None:
            calls.append(1)
            if len(calls) > 1:
                real(path, info, limit)
        input_file._check = first_check_passes  # type: ignore[assignment]
        try:
            return read_input_file(pipe, 1024)
        finally:
            input_file._check = real  # type: ignore[assignment]

    with pytest.raises(InputFileError, match="FIFO"):
        await without_hanging(read_fifo_past_the_stat, pipe)


def test_a_directory_is_refused_as_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"^is a directory, not a regular file"):
        read_input_file(tmp_path, DEFAULT_MAX_FILE_BYTES)


def test_a_dangling_symlink_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (tmp_path / "ok.yaml").write_text(GOOD)
    with pytest.raises(LoadError, match=r"gone\.yaml: cannot read the file: No such file"):
        load_journeys([str(tmp_path)])


def test_the_cap_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(GOOD + "#" * 2000 + "\n")
    assert load_journeys([str(path)])[0].name == "ok"
    monkeypatch.setenv(MAX_FILE_ENV, "1KiB")
    assert max_file_bytes() == 1024
    with pytest.raises(LoadError, match="at most 1024 bytes"):
        load_journeys([str(path)])
    monkeypatch.setenv(MAX_FILE_ENV, "lots")
    with pytest.raises(LoadError, match=f"environment: {MAX_FILE_ENV}='lots': invalid size"):
        load_journeys([str(path)])


def test_an_alias_bomb_is_refused_by_its_node_count(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nname: bomb\n")
    assert path.stat().st_size < 1024  # tiny on disk, 10^9 nodes expanded
    with pytest.raises(LoadError, match=f"more than {MAX_NODES} YAML nodes"):
        load_journeys([str(path)])


@pytest.mark.parametrize("make", ["big", "fifo", "zero", "dir"])
async def test_a_config_that_is_not_a_small_regular_file_is_refused(tmp_path: Path, make: str) -> None:
    path = tmp_path / "agent.yaml"
    if make == "big":
        sparse(path)
    elif make == "fifo":
        fifo(path)
    elif make == "zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    with pytest.raises(ConfigError) as caught:
        await without_hanging(lambda: load_config(str(path), environ={}), path if make == "fifo" else None)
    assert str(caught.value).startswith(f"{path}: ")
    assert ("at most" if make == "big" else "not a regular file") in str(caught.value)


async def test_validate_refuses_a_50_mb_file_and_dev_zero_with_exit_2(tmp_path: Path) -> None:
    big = sparse(tmp_path / "big.yaml")
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    code, out, err = await cli("validate", str(big), str(zero))
    assert code == 2, out
    assert f"{big}: the file is {BIG} bytes; journey and config files are at most 1048576 bytes" in err
    assert f"{zero}: is a character device (/dev/zero), not a regular file" in err


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
async def test_a_daemon_rejects_hostile_files_dropped_into_its_folder_and_runs_on(
        tmp_path: Path, target: tuple[str, Seen]) -> None:
    url, _ = target
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "ok.yaml").write_text(http_journey("ok", f"{url}/json", interval="1s"))
    port = free_port()
    config = tmp_path / "agent.yaml"
    config.write_text(f"server: {{listen: '127.0.0.1:{port}'}}\nstorage: {{path: '{tmp_path / 'jp.db'}'}}\n"
                      "reload_poll: 200ms\n")
    process = await start_agent_process(["run", "--config", str(config), str(folder)], tmp_path)
    assert process.stderr is not None
    try:
        await wait_for_line(process.stderr, "journeyprobe.runs")
        before = peak_rss_kib(process.pid)
        sparse(folder / "big.yaml")
        (folder / "zero.yaml").symlink_to("/dev/zero")
        pipe = fifo(folder / "pipe.yaml")
        line = await wait_for_line(process.stderr, "reload rejected")
        assert "the last good set of 1 journeys keeps running" in line

        async def rejected() -> Any:
            code, ready = await get_json(f"http://127.0.0.1:{port}/readyz")
            return ready if code == 200 and len(ready["reload_errors"]) == 3 else None

        ready = await wait_for(rejected, timeout=10)
        assert ready["journeys"] == 1
        assert {e.split(": ", 1)[0] for e in ready["reload_errors"]} == {str(folder / n) for n in
                                                                         ("big.yaml", "zero.yaml", "pipe.yaml")}
        await wait_for_line(process.stderr, "journeyprobe.runs")  # the good journey runs on
        grown_mib = (peak_rss_kib(process.pid) - before) / 1024
        print(f"peak RSS before {before / 1024:.0f} MiB, grew by {grown_mib:.1f} MiB")
        assert grown_mib < 20, f"peak RSS grew by {grown_mib:.0f} MiB"  # reading the 50 MB file would cost >50
        assert process.returncode is None
        del pipe
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.communicate(), 20)
