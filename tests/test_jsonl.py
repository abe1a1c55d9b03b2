"""The jsonl sink: one Result JSON line per run, size rotation, drops counted when behind."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.probe.result import Outcome, RunResult, StepResult
from exporters.jsonl import JsonlSink


def result(index: int) -> RunResult:
    return RunResult(journey="checkout", outcome=Outcome.SUCCESS, started_at=datetime.now(UTC),
                     duration_s=0.25, trace_id=f"{index:032x}", location="tokyo-1",
                     steps=(StepResult("login", Outcome.SUCCESS, 0.1, status=200),))


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_line_per_run_in_result_json_form(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "out" / "results.jsonl")
    for i in range(5):
        sink(result(i), None)
    assert sink.close()
    got = lines(tmp_path / "out" / "results.jsonl")
    assert got == [result(i).to_dict() | {"started_at": got[i]["started_at"]} for i in range(5)]
    assert [g["trace_id"] for g in got] == [f"{i:032x}" for i in range(5)]
    assert sink.written == 5 and sink.dropped == 0


@pytest.mark.parametrize("backups", [0, 1, 3], ids=lambda b: f"backups={b}")
def test_rotation_by_size_keeps_the_newest_lines(tmp_path: Path, backups: int) -> None:
    path = tmp_path / "results.jsonl"
    size = len(json.dumps(result(0).to_dict(), separators=(",", ":"))) + 1
    sink = JsonlSink(path, max_bytes=size * 4, backups=backups)
    for i in range(22):
        sink(result(i), None)
    assert sink.close()
    files = [path] + [path.with_name(f"results.jsonl.{k}") for k in range(1, backups + 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)
    assert all(p.stat().st_size <= size * 4 for p in files)
    kept = [g["trace_id"] for p in reversed(files) for g in lines(p)]
    assert kept == [f"{i:032x}" for i in range(22)][-len(kept):]  # oldest first, nothing out of order
    assert len(lines(path)) == 2  # 22 lines of 4 a file: 5 full files rotated away or kept, 2 lines left
    assert len(kept) == 2 + 4 * backups


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "results.jsonl", max_queue=4)
    gate = threading.Event()
    original = sink._write

    def stuck(batch: list[str]) -> None:  # a disk that does not answer
        gate.wait(10)
        original(batch)

    sink._write = stuck  # type: ignore[method-assign,assignment]
    started = time.perf_counter()
    for i in range(100):
        sink(result(i), None)
    assert time.perf_counter() - started < 0.5
    assert sink.dropped > 0
    gate.set()
    assert sink.close()
    assert sink.written + sink.dropped == 100


def test_an_existing_file_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"journey": "old"}) + "\n")
    sink = JsonlSink(path)
    sink(result(1), None)
    assert sink.close()
    assert [g["journey"] for g in lines(path)] == ["old", "checkout"]
