"""The status page's journey page, and names, errors and owners with HTML in them rendered as text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.probe.result import Outcome
from agent.slo.indicator import verdicts
from agent.store.sqlite import Store
from agent.web.status_page.text import escape_html
from tests.test_status_page import HOSTILE, _result, build_store, fetch, journeys, pin_clock, serving, slo_cards


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> float:
    return pin_clock(monkeypatch)


async def test_journey_page(tmp_path: Path, now: float) -> None:
    js = await build_store(tmp_path / "store.db", now, tmp_path / "artifacts")
    async with serving(tmp_path, now, js) as (base, _):
        status, page, _ = await fetch(base + "/journeys/checkout")
        missing, _, _ = await fetch(base + "/journeys/nope")
        shots = re.findall(r'href="(/artifacts/[^"]+)"', page)
        assert shots, "failure screenshots are linked"
        shot_status, _, shot = await fetch(base + shots[0])
        shot_type = shot.content_type
    assert status == 200 and missing == 404
    # the steps: what they call, as written; no secret, no typed value
    assert "POST {{ base }}/api/login" in page
    assert "POST https://***@{{ host }}/api/pay?api_key=***" in page
    assert "hunter2" not in page and "abc123" not in page and "4111" not in page
    assert "fill in #card" in page and "expects <code>json.paid == true</code>" in page
    # recent failures: the failing expectation, the trace id, the screenshot
    assert "expected text &#34;Paid&#34; in #status, saw &#34;Payment declined&#34;" in page
    assert '<code class="trace">63686563' in page
    assert "probe problem (not counted)" in page
    assert page.count('<article class="card failure">') == 8  # 6 failed, 1 timed out, 1 probe problem
    assert '<svg class="chart duration-chart wide"' in page
    assert '<svg class="chart duration-chart narrow"' in page
    assert len(slo_cards(page)) == 2
    assert shot_status == 200 and shot_type == "image/png"


async def test_html_in_names_errors_and_owners_renders_as_text(tmp_path: Path, now: float) -> None:
    js = journeys(
        checkout={"description": HOSTILE, "labels": {"team": "pay"},
                  "steps": [{"name": f"pay {HOSTILE}",
                             "http": {"url": "https://shop/\"><img src=x onerror=alert(1)>"}}],
                  "slos": [{"name": "checkout-success", "objective": "99%", "owner": HOSTILE,
                            "description": f"Pay {HOSTILE}"}]})
    store = await Store.open(tmp_path / "store.db", retention_s=float("inf"))
    for i in range(5):
        outcome = Outcome.FAILURE if i % 2 else Outcome.SUCCESS
        result = _result("checkout", now - 3600 + i * 60, outcome, 0.2, i, step=f"pay {HOSTILE}",
                         error=f"expected body contains {HOSTILE}, saw <b>&amp;</b>")
        await store.add(result, verdicts(js[0], result))
    await store.flush()
    await store.close()
    async with serving(tmp_path, now, js) as (base, _):
        pages = [(await fetch(base + path))[1] for path in ("/", "/journeys/checkout")]
    for page in pages:
        assert "<script>" not in page and "<img" not in page and "<b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f"<strong class=\"owner\">{escape_html(HOSTILE)}</strong>" in pages[0]
    assert "saw &lt;b&gt;&amp;amp;&lt;/b&gt;" in pages[1]  # the error text, exactly as the step reported it
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in pages[1]
