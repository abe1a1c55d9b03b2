"""The status page over a fixture store: its numbers equal the store and /api/v1/slos.

The fixture (journeys, results, the store, serving the app) is shared: test_status_page_journey.py,
_auth, _browser, _text and test_report.py import it from here.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.config.models import AgentConfig
from agent.daemon.slo_service import SloService
from agent.journey.model import Journey
from agent.probe.result import ErrorType, Outcome, RunResult, StepResult
from agent.slo.indicator import verdicts
from agent.store.sqlite import Store
from agent.web.server import create_app
from agent.web.state import AgentState
from agent.web.status_page.data import slo_entries_from_store
from agent.web.status_page.text import (
    budget_text,
    decimals_for,
    truncated_percent,
)
from tests.daemon_helpers import config as daemon_config
from tests.daemon_helpers import get_json, http_journey, running_daemon, wait_for

DAY = 86400.0
FIXED_NOW = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC).timestamp()
HOSTILE = "<script>alert(1)</script>"

# -- a store with known results -------------------------------------------------------------------

JOURNEYS: list[dict[str, Any]] = [
    {"name": "checkout", "description": "A customer pays for the cart and gets an order number",
     "interval": "30m", "labels": {"team": "payments"},
     "steps": [
         {"name": "login", "http": {"method": "POST", "url": "{{ base }}/api/login",
                                    "json": {"user": "demo", "password": "{{ secret.PASSWORD }}"}},
          "expect": ["status == 200"]},
         {"name": "pay", "http": {"method": "POST",
                                  "url": "https://shop:hunter2@{{ host }}/api/pay?api_key=abc123"},
          "expect": ["status == 200", "json.paid == true"]},
         {"name": "confirm", "browser": [{"goto": "{{ base }}/orders"},
                                         {"fill": {"selector": "#card", "value": "4111-1111-1111-1111"}},
                                         {"expect_text": {"text": "Paid", "selector": "#status"}}]}],
     "slos": [{"name": "checkout-success", "objective": "99%", "owner": "Head of Payments",
               "description": "Customers can pay"},
              {"name": "checkout-fast", "indicator": {"latency": "2s"}, "objective": "95%", "owner": "CTO"}]},
    {"name": "search", "description": "A visitor searches the catalogue", "interval": "30m",
     "steps": [{"name": "query", "http": {"url": "{{ base }}/search?q=shoes"}, "expect": ["status == 200"]}],
     "slos": [{"name": "search-success", "objective": "99.5%", "owner": "Head of Product"}]},
    {"name": "signup", "description": "A visitor creates an account", "interval": "1h",
     "steps": [{"name": "register", "http": {"method": "POST", "url": "{{ base }}/api/signup"}}],
     "slos": [{"name": "signup-success", "objective": "99.9%", "owner": "Growth team"}]},
    {"name": "health", "interval": "10m", "steps": [{"name": "ping", "http": {"url": "{{ base }}/healthz"}}]},
]


def journeys(**changes: Any) -> list[Journey]:
    """The fixture's journeys; `changes` replaces top-level keys of the journey of that name."""
    out = []
    for data in JOURNEYS:
        out.append(Journey.model_validate({**data, **changes.get(data["name"], {})}))
    return out


def _jitter(i: int) -> float:
    """A fixed pseudo-random number in [0, 1) for run i (deterministic across machines)."""
    return ((i * 2654435761) % 1000) / 1000.0


def _result(journey: str, at: float, outcome: Outcome, duration: float, i: int, *, step: str = "pay",
            error: str = "expected status == 200, saw 503", artifacts: tuple[str, ...] = (),
            agent_side: bool = False) -> RunResult:
    ok = outcome is Outcome.SUCCESS
    return RunResult(
        journey=journey, outcome=outcome, started_at=datetime.fromtimestamp(at, UTC), duration_s=duration,
        trace_id=f"{journey[:4].encode().hex()}{i:024x}", location="tokyo-1", agent_side=agent_side,
        error_type=None if ok else ErrorType.AGENT if agent_side else ErrorType.ASSERTION,
        steps=(StepResult(name=step, outcome=outcome, duration_s=duration, status=200 if ok else 503,
                          error=None if ok else error, kind="browser" if artifacts else "http",
                          artifacts=artifacts, agent_side=agent_side),))


def fixture_results(now: float, artifacts: Path | None = None) -> list[RunResult]:
    """28 days of runs ending a little before `now`: checkout burning, search spent, signup idle."""
    out: list[RunResult] = []
    start = now // 60 * 60 - 28 * DAY
    for i in range(28 * 48):  # checkout, every 30 minutes
        at = start + i * 1800 + 13
        hour = (at % DAY) / 3600
        duration = round(0.45 + 0.35 * math.sin(hour / 24 * 2 * math.pi) ** 2 + 0.6 * _jitter(i) ** 4, 3)
        if i == 28 * 48 - 20:
            out.append(_result("checkout", at, Outcome.ERROR, 0.01, i, error="the browser could not start",
                               agent_side=True))
        elif i % 320 == 7 or i == 28 * 48 - 10:
            shot: tuple[str, ...] = ()
            if artifacts is not None:
                shot = (str(artifacts / "checkout" / f"run-{i}" / "confirm-failure.png"),)
            out.append(_result("checkout", at, Outcome.FAILURE, duration + 1.5, i, step="confirm",
                               error='expected text "Paid" in #status, saw "Payment declined"',
                               artifacts=shot))
        elif i == 705:
            out.append(_result("checkout", at, Outcome.TIMEOUT, 20.0, i, step="pay",
                               error="no response within 20s"))
        else:
            out.append(_result("checkout", at, Outcome.SUCCESS, duration, i))
    for i in range(28 * 48):  # search, every 30 minutes, 3% failing
        at = start + i * 1800 + 40
        outcome = Outcome.FAILURE if i % 33 == 4 else Outcome.SUCCESS
        out.append(_result("search", at, outcome, round(0.2 + 0.2 * _jitter(i + 7), 3), i, step="query",
                           error="expected status == 200, saw 500"))
    for i in range(7 * 144):  # health, every 10 minutes for the last 7 days
        at = now // 60 * 60 - 7 * DAY + i * 600 + 5
        out.append(_result("health", at, Outcome.SUCCESS, round(0.01 + 0.02 * _jitter(i), 3), i, step="ping"))
    return out


async def build_store(path: Path, now: float, artifacts: Path | None = None) -> list[Journey]:
    """A store at `path` with the fixture's results and one firing alert; returns the journeys."""
    js = journeys()
    by_name = {j.name: j for j in js}
    store = await Store.open(path, retention_s=float("inf"), batch_size=5000)
    try:
        for result in fixture_results(now, artifacts):
            await store.add(result, verdicts(by_name[result.journey], result))
        await store.put_alert_state(
            "search/search-success", "page", "firing", now - 3 * 3600, now - 3 * 3600,
            {"summary": "Search success is burning its error budget 6.1x faster than sustainable",
             "burn_rate": 6.1, "threshold": 5.6, "long_window": "6h", "short_window": "30m"})
        await store.flush()
    finally:
        await store.close()
    if artifacts is not None:
        await asyncio.to_thread(_write_artifacts, fixture_results(now, artifacts))
    return js


def _write_artifacts(results: list[RunResult]) -> None:
    for result in results:
        for step in result.steps:
            for file in step.artifacts:
                Path(file).parent.mkdir(parents=True, exist_ok=True)
                Path(file).write_bytes(PNG)


def _png() -> bytes:
    """A valid 1x1 PNG, as a browser step's failure screenshot would be."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xcc\x22\x22")) + chunk(b"IEND", b""))


PNG = _png()


# -- serving the page over a fixture store -------------------------------------------------------

def agent_config(tmp_path: Path, **server: Any) -> AgentConfig:
    return AgentConfig.model_validate({
        "location": "tokyo-1", "artifacts": str(tmp_path / "artifacts"),
        "storage": {"path": str(tmp_path / "store.db"), "retention": "3650d"},
        "server": {"listen": "127.0.0.1:0", **server}})


@asynccontextmanager
async def serving(tmp_path: Path, now: float, js: list[Journey], *, token: str | None = None,
                  service: bool = True) -> AsyncIterator[tuple[str, AgentState]]:
    """The daemon's aiohttp app over the store in tmp_path, with the SLO service evaluated at `now`."""
    cfg = agent_config(tmp_path, token=token)
    store = await Store.open(cfg.storage.path, retention_s=cfg.storage.retention)
    state = AgentState(config=cfg, journeys={j.name: j for j in js}, store=store, journeys_loaded=True,
                       clock=lambda: now)
    if service:
        slo = SloService(cfg, store, lambda: list(state.journeys.values()), clock=lambda: now)
        await slo.book.load()
        await slo.evaluate(now)
        state.slo_status = slo.status
    runner = web.AppRunner(create_app(state), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()
        await store.close()


def pin_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    """The present, pinned for the page (a few seconds into a minute, so windows do not move)."""
    return time.time() // 60 * 60 + 5


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> float:
    return pin_clock(monkeypatch)


async def fetch(url: str, *, session: aiohttp.ClientSession | None = None,
                **kwargs: Any) -> tuple[int, str, aiohttp.ClientResponse]:
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.get(url, allow_redirects=False, **kwargs) as response:
            return response.status, await response.text(errors="replace"), response
    finally:
        if own:
            await session.close()


def slo_cards(page: str) -> dict[tuple[str, str], str]:
    """(journey, SLO) -> the HTML of its card."""
    out = {}
    for part in page.split('<article class="card slo"')[1:]:
        card = part.split("</article>")[0]
        m = re.search(r'data-slo="([^"]*)" data-journey="([^"]*)"', card)
        assert m, card[:200]
        out[(m[2], m[1])] = card
    return out


def journey_rows(page: str) -> dict[str, str]:
    out = {}
    for part in page.split('<tr class="journey"')[1:]:
        row = part.split("</tr>")[0]
        m = re.search(r'data-journey="([^"]*)"', row)
        assert m
        out[m[1]] = row
    return out


def data_value(html: str, css: str, attribute: str = "data-value") -> Any:
    m = re.search(rf'class="{css}"[^>]*?{attribute}=\'([^\']*)\'', html)
    assert m, f"{css} {attribute} not found"
    return json.loads(m[1])


def expected_counts(results: list[RunResult], journey: str, seconds: float, now: float) -> tuple[int, int]:
    head = int(now // 60)
    since = head - round(seconds / 60) + 1
    counted = [r for r in results if r.journey == journey and not r.agent_side
               and since <= int(r.started_at.timestamp() // 60) <= head]
    return sum(r.passed for r in counted), len(counted)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# -- tests ----------------------------------------------------------------------------------------

async def test_overview_numbers_equal_the_api_and_the_store(tmp_path: Path, now: float) -> None:
    js = await build_store(tmp_path / "store.db", now, tmp_path / "artifacts")
    results = fixture_results(now, tmp_path / "artifacts")
    async with serving(tmp_path, now, js) as (base, _):
        status, page, response = await fetch(base + "/")
        _, api, _ = await fetch(base + "/api/v1/slos")
    assert status == 200 and response.content_type == "text/html"
    entries = json.loads(api)
    assert len(entries) == 4
    cards = slo_cards(page)
    assert set(cards) == {(e["journey"], e["name"]) for e in entries}
    for e in entries:
        card = cards[(e["journey"], e["name"])]
        assert data_value(card, "sli") == e["sli"]
        assert data_value(card, "budget") == e["error_budget_remaining"]
        assert data_value(card, "objective") == e["objective"]
        assert data_value(card, "burn", "data-1h") == e["burn_rates"]["1h"]
        assert data_value(card, "burn", "data-1d") == e["burn_rates"]["1d"]
        assert f'<strong class="owner">{e["owner"]}</strong>' in card
        assert truncated_percent(e["sli"], decimals_for(e["objective"])) in card
        assert budget_text(e["error_budget_remaining"]) in card
        firing = {a["severity"] for a in e["alerts"] if a.get("state") == "firing"}
        label = "Paging" if "page" in firing else "Ticket open" if "ticket" in firing else "No alert"
        assert f">{label}</p>" in card
        assert '<svg class="budget-bar"' in card
        assert ('<svg class="chart budget-chart"' in card) == (e["sli"] is not None)
    # the SLI itself, counted from the results independently
    good, total = expected_counts(results, "checkout", 28 * DAY, now)
    paying = next(e for e in entries if e["name"] == "checkout-success")
    assert paying["sli"] == pytest.approx(good / total, abs=1e-6)
    # the sentences
    assert "of the error budget is left; at this rate it lasts" in cards[("checkout", "checkout-success")]
    assert "The error budget is spent, " in cards[("search", "search-success")]
    assert "No runs yet." in cards[("signup", "signup-success")]
    # every journey against the store's runs
    rows = journey_rows(page)
    assert list(rows) == ["checkout", "health", "search", "signup"]
    for name, row in rows.items():
        cells = re.findall(r'data-window="(\d+)" data-good="(\d+)" data-total="(\d+)">([^<]*)<', row)
        assert [int(c[0]) for c in cells] == [86400, 7 * 86400, 28 * 86400]
        for seconds, g, t, text in cells:
            good, total = expected_counts(results, name, float(seconds), now)
            assert (int(g), int(t)) == (good, total), (name, seconds)
            assert text == truncated_percent(good / total if total else None, 2)
        durations = [r.duration_s for r in results if r.journey == name and not r.agent_side
                     and now - DAY <= r.started_at.timestamp() < now]
        if durations:
            assert data_value(row, "num p50") == nearest_rank(durations, 0.5)
            assert data_value(row, "num p95") == nearest_rank(durations, 0.95)
        else:
            assert data_value(row, "num p50") is None and "No runs yet" in row
    assert rows["checkout"].count("<li class=") == 30  # the strip of recent runs
    assert 'class="agent" title="' in rows["checkout"]  # the probe's own failure, not counted
    assert re.search(r'<li class="fail" title="[^"]+ · Failed at step confirm: expected text',
                     rows["checkout"])
    # a page a person reads, that refreshes itself and needs no script
    assert '<meta http-equiv="refresh" content="30">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script" not in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_slos_from_the_store_when_the_service_is_not_running(tmp_path: Path, now: float) -> None:
    js = await build_store(tmp_path / "store.db", now)
    async with serving(tmp_path, now, js, service=False) as (base, state):
        _, page, _ = await fetch(base + "/")
        assert state.store is not None
        entries = await slo_entries_from_store(state.store, js, now)
    cards = slo_cards(page)
    for e in entries:
        assert data_value(cards[(e["journey"], e["name"])], "sli") == e["sli"]
    assert ">Paging</p>" in cards[("search", "search-success")]  # the alert state kept in the store


async def test_the_real_daemon_serves_the_page(tmp_path: Path, target: tuple[str, Any]) -> None:
    url, _ = target
    (tmp_path / "quick.yaml").write_text(http_journey(
        "quick", f"{url}/json", extra=("description: Quick <em>check</em>\nslos:\n  - {name: quick-ok, "
                                       "objective: 99%, owner: Web team}\n")))
    async with running_daemon(daemon_config(tmp_path), [str(tmp_path / "quick.yaml")]) as daemon:
        base = daemon.base_url

        async def ran() -> bool:
            code, runs = await get_json(f"{base}/api/v1/journeys/quick/runs?limit=1")
            return code == 200 and len(runs) == 1

        await wait_for(ran, timeout=10)
        status, page, _ = await fetch(base + "/")
        _, api, _ = await fetch(base + "/api/v1/slos")
    assert status == 200
    row = journey_rows(page)["quick"]
    assert '<span class="status ok">Passed</span>' in row
    assert "Quick &lt;em&gt;check&lt;/em&gt;" in row
    card = slo_cards(page)[("quick", "quick-ok")]
    entry = json.loads(api)[0]
    assert entry["owner"] == "Web team" and "Web team" in card
    assert data_value(card, "objective") == entry["objective"] == 0.99
