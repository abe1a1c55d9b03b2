"""The words, numbers, escaping and links of the status page, without a server."""

from __future__ import annotations

from pathlib import Path

from agent.web.status_page import views
from agent.web.status_page.charts import budget_bar, budget_chart
from agent.web.status_page.journey import artifact_link
from agent.web.status_page.text import (
    budget_text,
    decimals_for,
    escape_html,
    md_escape,
    slo_sentences,
    truncated_percent,
)
from tests.test_status_page import DAY, HOSTILE, PNG


def test_locate_artifact_refuses_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(PNG)
    (tmp_path / "b.png").write_bytes(PNG)
    assert views.locate_artifact(str(tmp_path / "a"), "x.png") == (tmp_path / "a" / "x.png").resolve()
    for bad in ("../b.png", str(tmp_path / "b.png"), "", ".", "x.png/..", "\x00"):
        assert views.locate_artifact(str(tmp_path / "a"), bad) is None, bad


def test_artifact_links_stay_inside_the_folder(tmp_path: Path) -> None:
    root = str(tmp_path / "artifacts")
    assert artifact_link(f"{root}/checkout/run 1/a.png", root).href == "/artifacts/checkout/run%201/a.png"
    assert artifact_link("/etc/passwd", root).href is None
    assert artifact_link(f"{root}/../store.db", root).href is None
    assert artifact_link(f"{root}/x.png", None).href is None


def test_escape_html_directly() -> None:
    assert str(escape_html(HOSTILE)) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert str(escape_html('a"b\'c&d')) == "a&#34;b&#39;c&amp;d"
    bar = str(budget_bar(0.5))
    assert "<script" not in str(budget_chart([(0.0, 1.0), (10.0, 0.5)], 0.0, 10.0))
    assert 'aria-label="50% of the error budget left"' in bar


def test_markdown_escaping() -> None:
    assert md_escape(HOSTILE) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md_escape("a | b\nc #1") == "a \\| b c #1"
    assert md_escape("# not a heading") == "\\# not a heading"
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert md_escape("- not a list") == "\\- not a list"
    assert md_escape("*bold* _it_ `code`") == "\\*bold\\* \\_it\\_ \\`code\\`"


def test_sentences() -> None:
    entry = {"name": "checkout-success", "journey": "checkout", "objective": 0.99, "sli": 0.9945,
             "error_budget_remaining": 0.45, "indicator": "success", "burn_rates": {"1d": 2.0}}
    assert slo_sentences(entry, 28 * DAY, True)[0] == (
        "99.45% of checkout runs succeeded in the last 28 days; 45% of the error budget is left; "
        "at this rate it lasts 6 more days.")
    assert "it will not run out" in slo_sentences({**entry, "burn_rates": {"1d": 0.5}}, 28 * DAY, True)[0]
    assert "nothing of it was spent" in slo_sentences({**entry, "burn_rates": {"1d": 0.0}}, 28 * DAY, True)[0]
    assert "lasts 10 more hours" in slo_sentences({**entry, "burn_rates": {"1d": 30.0}}, 28 * DAY, True)[0]
    spent = slo_sentences({**entry, "sli": 0.985, "error_budget_remaining": -0.5}, 28 * DAY, True)
    assert spent == ["The error budget is spent, 0.5x over: 98.50% of checkout runs succeeded in the last 28 days, "
                     "below the objective of 99%.", "Failures used 150% of the budget the objective allows."]
    young = slo_sentences({**entry, "sli": 0.6667, "error_budget_remaining": -82.3, "data_s": 240.0}, 28 * DAY, True)
    assert young == ["The error budget is spent, 82x over: 66.67% of checkout runs succeeded in the 4 minutes of "
                     "data so far, below the objective of 99%.", "Failures used 83 times the budget the objective "
                     "allows."]
    assert budget_text(-82.3) == "spent, 82x over" and budget_text(0.45) == "45%"
    quorum = slo_sentences({**entry, "min_failing_locations": 2}, 28 * DAY, True)
    assert quorum[-1].startswith("It alerts only when at least 2 locations fail together")
    assert slo_sentences({**entry, "sli": None}, 28 * DAY, False) == ["No runs yet."]
    assert slo_sentences({**entry, "sli": None}, 28 * DAY, True) == ["No runs in the last 28 days."]
    latency = {**entry, "indicator": {"latency": 2.0}}
    assert slo_sentences(latency, 28 * DAY, True)[0].startswith(
        "99.45% of checkout runs passed within 2 s in the last 28 days")


def test_numbers_never_look_better_than_they_are() -> None:
    assert truncated_percent(0.99895, 2) == "99.89%"
    assert truncated_percent(0.999999, 2) == "99.99%"
    assert truncated_percent(1.0, 2) == "100%"
    assert truncated_percent(None) == "–"
    assert decimals_for(0.995) == 2 and decimals_for(0.9995) == 3
