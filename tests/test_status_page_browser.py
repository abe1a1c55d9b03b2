"""The status page in real headless Chromium: loads, no console errors, readable on a phone."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.probe.result import Outcome
from agent.slo.indicator import verdicts
from agent.store.sqlite import Store
from tests.test_status_page import HOSTILE, _result, build_store, journeys, pin_clock, serving

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
                         "device_scale_factor": 2}


def shots_dir(tmp_path: Path) -> Path:
    """Where screenshots are kept: $JOURNEYPROBE_TEST_ARTIFACTS, else the test's tmp dir."""
    folder = Path(os.environ.get("JOURNEYPROBE_TEST_ARTIFACTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> float:
    return pin_clock(monkeypatch)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="jp-chromium-") as xdg:
        async with async_playwright() as p:
            chromium = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS,
                                               env={**os.environ, "XDG_CONFIG_HOME": xdg})
            try:
                yield chromium
            finally:
                await chromium.close()


class Watch:
    """Console errors, page errors and dialogs (an alert() would mean escaping failed)."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: self.problems.append(f"dialog: {d.message}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))


async def test_overview_and_journey_page_in_chromium(tmp_path: Path, now: float, browser: Any) -> None:
    js = await build_store(tmp_path / "store.db", now, tmp_path / "artifacts")
    folder = shots_dir(tmp_path)
    async with serving(tmp_path, now, js) as (base, state):
        assert state.slo_status is not None
        entries = await state.slo_status()
        for name, options in (("desktop", DESKTOP), ("phone", PHONE)):
            context = await browser.new_context(**options)
            page = await context.new_page()
            watch = Watch(page)
            response = await page.goto(base + "/")
            assert response is not None and response.status == 200
            assert await page.title() == "Status · journeyprobe"
            assert await page.locator("h2#slos-h").inner_text() == "Service level objectives"
            bars = page.locator("svg.budget-bar")
            assert await bars.count() == len(entries) == 4
            assert await bars.first.is_visible()
            box = await bars.first.bounding_box()
            assert box is not None and box["width"] > 150 and box["height"] >= 10
            charts = page.locator("svg.budget-chart")
            assert await charts.count() == 3  # signup has no runs: no chart, a sentence instead
            assert await charts.first.is_visible()
            # the budget bar is as wide as the budget left of /api/v1/slos
            card = page.locator('article.slo[data-slo="checkout-success"]')
            budget = next(e["error_budget_remaining"] for e in entries if e["name"] == "checkout-success")
            width = float(await card.locator("svg.budget-bar rect.fill").get_attribute("width") or "nan")
            assert width == pytest.approx(budget * 200, abs=0.06)
            assert json.loads(await card.locator("dd.budget").get_attribute("data-value") or "") == budget
            assert await page.locator("ol.strip li").count() == 3 * 30
            assert "Failed at step confirm" in (await page.locator("ol.strip li.fail").first.get_attribute(
                "title") or "")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
            await page.screenshot(path=str(folder / f"status-page-{name}.png"), full_page=True)
            await page.click("tr.journey[data-journey=checkout] a")
            await page.wait_for_url("**/journeys/checkout")
            assert await page.locator("h1").inner_text() == "checkout"
            chart = page.locator(f"svg.duration-chart.{'wide' if name == 'desktop' else 'narrow'}")
            assert await chart.is_visible()
            assert await page.locator("code.trace").count() == 8
            await page.screenshot(path=str(folder / f"journey-page-{name}.png"), full_page=True)
            shot = page.locator("a", has_text="screenshot: confirm-failure.png").first
            image = await context.request.get(base + (await shot.get_attribute("href") or ""))
            assert image.status == 200 and image.headers["content-type"] == "image/png"
            assert watch.problems == [], watch.problems
            await context.close()
    print(f"\nscreenshots in {folder}")


async def test_works_with_javascript_off_and_escapes(tmp_path: Path, now: float, browser: Any) -> None:
    js = journeys(checkout={"description": HOSTILE,
                            "slos": [{"name": "checkout-success", "objective": "99%", "owner": HOSTILE}]})
    store = await Store.open(tmp_path / "store.db", retention_s=float("inf"))
    for i in range(3):
        result = _result("checkout", now - 600 + i * 60, Outcome.FAILURE, 0.3, i, error=f"saw {HOSTILE}")
        await store.add(result, verdicts(js[0], result))
    await store.flush()
    await store.close()
    async with serving(tmp_path, now, js) as (base, _):
        context = await browser.new_context(java_script_enabled=False, **DESKTOP)
        page = await context.new_page()
        watch = Watch(page)
        await page.goto(base + "/")
        assert await page.locator("p.headline").is_visible()
        assert await page.locator("strong.owner").first.inner_text() == HOSTILE  # shown as the text it is
        assert await page.locator("tr.journey .desc").first.inner_text() == HOSTILE
        await page.goto(base + "/journeys/checkout")
        assert HOSTILE in await page.locator("p.error-text").first.inner_text()
        await page.screenshot(path=str(shots_dir(tmp_path) / "escaped.png"), full_page=True)
        assert watch.problems == []
        await context.close()


async def test_sign_in_with_the_form(tmp_path: Path, now: float, browser: Any) -> None:
    js = await build_store(tmp_path / "store.db", now)
    async with serving(tmp_path, now, js, token="s3cret-token") as (base, _):
        context = await browser.new_context(**PHONE)
        page = await context.new_page()
        watch = Watch(page)
        response = await page.goto(base + "/")
        assert response is not None and response.status == 401
        assert await page.locator("input[name=token]").is_visible()
        await page.screenshot(path=str(shots_dir(tmp_path) / "login-phone.png"))
        await page.fill("input[name=token]", "s3cret-token")
        await page.click("button[type=submit]")
        await page.wait_for_selector("svg.budget-bar")
        assert page.url == base + "/"
        cookie = next(c for c in await context.cookies() if c["name"] == "journeyprobe_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert "s3cret-token" not in page.url
        # 401s of the login form are expected console noise in Chromium; nothing else is
        assert [p for p in watch.problems if "401" not in p] == []
        await context.close()
