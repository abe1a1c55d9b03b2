"""`journeyprobe report`: the status page's numbers in one file, the same for the same store and time."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
import yaml

from agent.cli.slo import gather_status
from agent.config.models import AgentConfig
from agent.journey.model import Journey
from agent.probe.result import Outcome
from agent.slo.indicator import verdicts
from agent.store.sqlite import Store
from agent.web.status_page.report import report_windows, write_report
from agent.web.status_page.text import budget_text, decimals_for, truncated_percent
from tests.test_status_page import DAY, FIXED_NOW, HOSTILE, JOURNEYS, _result, build_store, journeys

GOLDEN = Path(__file__).with_name("golden")
WINDOW = 28 * DAY


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME; JOURNEYPROBE_UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    if os.environ.get("JOURNEYPROBE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs: JOURNEYPROBE_UPDATE_GOLDEN=1 to accept"


def report_config(tmp_path: Path, **storage: object) -> AgentConfig:
    return AgentConfig.model_validate({"location": "tokyo-1", "artifacts": str(tmp_path / "artifacts"),
                                       "storage": {"path": str(tmp_path / "store.db"), **storage}})


@pytest.fixture
def fixed_store(tmp_path: Path) -> tuple[AgentConfig, list[Journey]]:
    js = asyncio.run(build_store(tmp_path / "store.db", FIXED_NOW, tmp_path / "artifacts"))
    return report_config(tmp_path), js


def test_markdown_report_matches_golden(tmp_path: Path,
                                        fixed_store: tuple[AgentConfig, list[Journey]]) -> None:
    cfg, js = fixed_store
    write_report(cfg, js, WINDOW, "md", tmp_path / "report.md", now=FIXED_NOW)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    check_golden("report.md", text)
    assert str(tmp_path) not in text  # nothing of where it ran


def test_html_report_matches_golden_and_is_self_contained(
        tmp_path: Path, fixed_store: tuple[AgentConfig, list[Journey]]) -> None:
    cfg, js = fixed_store
    write_report(cfg, js, WINDOW, "html", tmp_path / "report.html", now=FIXED_NOW)
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    check_golden("report.html", text)
    assert "<style>" in text and '<svg class="budget-bar"' in text
    assert '<svg class="chart budget-chart"' in text
    assert "<script" not in text and "<link rel=\"stylesheet\"" not in text and " src=" not in text
    assert all(h.startswith(("#journey-", "data:")) for h in re.findall(r'href="([^"]*)"', text))
    assert 'http-equiv="refresh"' not in text  # a file does not refresh itself
    assert str(tmp_path) not in text


def test_report_numbers_equal_the_slo_status(tmp_path: Path,
                                             fixed_store: tuple[AgentConfig, list[Journey]]) -> None:
    cfg, js = fixed_store
    write_report(cfg, js, WINDOW, "md", tmp_path / "report.md", now=FIXED_NOW)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    _, entries, found = asyncio.run(gather_status(cfg, js, FIXED_NOW))
    assert found and len(entries) == 4
    for e in entries:
        sli = truncated_percent(e["sli"], decimals_for(e["objective"]))
        row = f"| {sli} | " if e["sli"] is not None else "| – | "
        assert row in text, e["name"]
        if e["error_budget_remaining"] is not None:
            assert f"| {budget_text(e['error_budget_remaining'])} |" in text
    assert "of the error budget is left; at this rate it lasts" in text
    assert "The error budget is spent, " in text and "No runs yet." in text


def test_report_is_the_same_twice_and_leaves_the_store_alone(tmp_path: Path) -> None:
    js = asyncio.run(build_store(tmp_path / "store.db", FIXED_NOW))
    cfg = report_config(tmp_path, retention="1d")  # the daemon would prune most of it; a report never does

    async def runs() -> int:
        store = await Store.open(tmp_path / "store.db", retention_s=float("inf"))
        try:
            return await store.run_count()
        finally:
            await store.close()

    before = asyncio.run(runs())
    write_report(cfg, js, WINDOW, "md", tmp_path / "a.md", now=FIXED_NOW)
    write_report(cfg, js, WINDOW, "md", tmp_path / "b.md", now=FIXED_NOW)
    assert (tmp_path / "a.md").read_bytes() == (tmp_path / "b.md").read_bytes()
    assert asyncio.run(runs()) == before


def test_report_without_a_store(tmp_path: Path) -> None:
    cfg = report_config(tmp_path)
    write_report(cfg, journeys(), 7 * DAY, "md", tmp_path / "r.md", now=FIXED_NOW)
    text = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert not (tmp_path / "store.db").exists()  # not created by reading
    assert "No runs yet." in text and "| Success 24 h | Success 7 d |" in text
    write_report(cfg, journeys(), 7 * DAY, "html", tmp_path / "r.html", now=FIXED_NOW)
    assert "No runs yet" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_report_escapes(tmp_path: Path) -> None:
    js = journeys(checkout={"description": HOSTILE, "slos": [
        {"name": "checkout-success", "objective": "99%", "owner": f"{HOSTILE} | *team*"}]})

    async def fill() -> None:
        store = await Store.open(tmp_path / "store.db", retention_s=float("inf"))
        for i in range(4):
            result = _result("checkout", FIXED_NOW - 3600 + i * 60, Outcome.FAILURE, 0.2, i,
                             error=f"saw {HOSTILE}\n| broken | table |")
            await store.add(result, verdicts(js[0], result))
        await store.close()

    asyncio.run(fill())
    cfg = report_config(tmp_path)
    write_report(cfg, js, WINDOW, "md", tmp_path / "r.md", now=FIXED_NOW)
    write_report(cfg, js, WINDOW, "html", tmp_path / "r.html", now=FIXED_NOW)
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    for text in (md, html):
        assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\| \\*team\\*" in md
    assert "saw &lt;script&gt;alert(1)&lt;/script&gt; \\| broken \\| table \\|" in md
    for line in md.splitlines():  # every table row keeps its columns
        if line.startswith("| 2026-"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 6, line


def test_report_windows_and_formats(tmp_path: Path) -> None:
    assert report_windows(28 * DAY) == [DAY, 7 * DAY, 28 * DAY]
    assert report_windows(7 * DAY) == [DAY, 7 * DAY]
    assert report_windows(3600) == [3600]
    with pytest.raises(ValueError, match="html, md"):
        write_report(report_config(tmp_path), [], WINDOW, "pdf", tmp_path / "r.pdf", now=FIXED_NOW)
    with pytest.raises(ValueError, match="at least an hour"):
        write_report(report_config(tmp_path), [], 60, "md", tmp_path / "r.md", now=FIXED_NOW)


def test_the_report_command(tmp_path: Path, fixed_store: tuple[AgentConfig, list[Journey]]) -> None:
    """`journeyprobe report` (docs/status-page.md)."""
    from click.testing import CliRunner

    from agent.cli.main import main

    (tmp_path / "journeys").mkdir()
    for data in JOURNEYS:
        (tmp_path / "journeys" / f"{data['name']}.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump({"journeys": [str(tmp_path / "journeys" / "*.yaml")],
                                                         "storage": {"path": str(tmp_path / "store.db")}}))
    out = tmp_path / "report.md"
    args = ["report", "--config", str(tmp_path / "agent.yaml"), "--window", "7d", "--format", "md",
            "--output", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| Success 24 h | Success 7 d |" in out.read_text(encoding="utf-8")
    bad_window = [*args[:4], "soon", *args[5:]]
    assert CliRunner().invoke(main, bad_window).exit_code == 2
