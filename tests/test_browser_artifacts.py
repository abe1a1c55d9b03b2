"""Artifact folders and their retention by age and total size."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from agent.probe.artifacts import Pruner, Retention, prune, run_folder, slug


def _file(path: Path, size: int, age_s: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_prune_by_age_then_by_total_size(tmp_path: Path) -> None:
    now = time.time()
    old = _file(tmp_path / "shop" / "run-1" / "pay-failure.png", 100, 10 * 86400, now)
    older_big = _file(tmp_path / "shop" / "run-2" / "pay-trace.zip", 5000, 3600, now)
    recent = _file(tmp_path / "shop" / "run-3" / "pay-failure.png", 3000, 60, now)
    newest = _file(tmp_path / "api" / "run-4" / "x.png", 1000, 1, now)
    report = prune(tmp_path, max_age_s=7 * 86400, max_bytes=4500, now=now)
    assert not old.exists() and not older_big.exists()
    assert recent.exists() and newest.exists()
    assert (report.removed_files, report.removed_bytes) == (2, 5100)
    assert (report.kept_files, report.kept_bytes) == (2, 4000)
    assert not (tmp_path / "shop" / "run-1").exists()  # emptied folders go too
    assert tmp_path.exists()


def test_prune_of_a_missing_folder_is_a_no_op(tmp_path: Path) -> None:
    assert prune(tmp_path / "none", 1, 1).removed_files == 0


def test_run_folder_and_slug() -> None:
    moment = datetime(2026, 11, 29, 7, 0, 5, tzinfo=UTC)
    folder = run_folder(Path("/a"), "check out/1", "ab" * 16, moment)
    assert folder == Path("/a/check-out-1") / f"20261129T070005Z-{'ab' * 16}"
    assert slug("../../etc") == "etc" and slug("") == "unnamed"


def test_pruner_runs_at_most_every_interval(tmp_path: Path) -> None:
    pruner = Pruner(Retention(every_s=60))
    assert pruner.due(tmp_path) and not pruner.due(tmp_path)
