"""The status page of a young agent: it says it has minutes of data, not 28 days, and why it does not page."""

from __future__ import annotations

from pathlib import Path

from agent.probe.result import Outcome
from agent.slo.indicator import verdicts
from agent.store.sqlite import Store
from agent.web.status_page.data import build_overview, slo_entries_from_store
from agent.web.status_page.render import render_html
from tests.test_status_page import FIXED_NOW, _result, journeys


async def test_three_runs_one_failed(tmp_path: Path) -> None:
    js = journeys(checkout={"interval": "1m"})
    checkout = next(j for j in js if j.name == "checkout")
    store = await Store.open(tmp_path / "store.db", retention_s=float("inf"))
    try:
        start = FIXED_NOW - 4 * 60  # the agent started four minutes ago
        for i, outcome in enumerate((Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS)):
            result = _result("checkout", start + i * 60, outcome, 0.2, i)
            await store.add(result, verdicts(checkout, result))
        await store.flush()
        entries = await slo_entries_from_store(store, js, FIXED_NOW, "tokyo-1")
        entry = next(e for e in entries if e["name"] == "checkout-success")
        overview = await build_overview(store, {j.name: j for j in js}, entries, FIXED_NOW, location="tokyo-1")
    finally:
        await store.close()
    card = next(c for c in overview.cards if c.name == entry["name"])
    assert entry["judgement"] == "3 runs so far: too few to judge (paging needs 8 in the last hour)"
    assert (card.alert_css, card.alert_text, card.alert_detail) == ("none", "Too few runs to judge",
                                                                   entry["judgement"])
    assert card.period_text == "4 minutes so far"
    assert "in the 4 minutes of data so far" in card.sentences[0]
    assert card.budget_text.startswith("spent, ") and card.budget_text.endswith("x over")
    assert card.chart_caption == "Error budget left over the 4 minutes of data so far"
    assert card.chart is not None and "Error budget left from 29 Nov to 29 Nov" in card.chart
    assert "no SLO alerts" in overview.headline  # not judged is not firing
    page = render_html("overview.html", o=overview, refresh=0, static=False, signed_in=False)
    assert "Too few runs to judge" in page and "Success, 4 minutes so far" in page
