"""The bundled demo shop, served for real on 127.0.0.1, and the example journeys that probe it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from agent.demo.shop import SHOP, Faults, main, start_shop

JOURNEYS = Path(__file__).resolve().parent.parent / "journeys"
TIMEOUT = aiohttp.ClientTimeout(total=5)
CREDENTIALS = {"user": "demo", "password": "demo-password"}


@dataclass
class Running:
    url: str
    faults: Faults
    http: aiohttp.ClientSession
    runner: web.AppRunner

    async def login(self) -> str:
        async with self.http.post(f"{self.url}/api/login", json=CREDENTIALS, timeout=TIMEOUT) as resp:
            assert resp.status == 200
            token: str = (await resp.json())["token"]
            return token

    async def set_fault(self, area: str, mode: str, delay: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"area": area, "mode": mode}
        if delay is not None:
            body["delay"] = delay
        async with self.http.post(f"{self.url}/_faults", json=body, timeout=TIMEOUT) as resp:
            assert resp.status == 200, await resp.text()
            state: dict[str, Any] = await resp.json()
            return state


@pytest.fixture(autouse=True)
def _default_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_USER", raising=False)
    monkeypatch.delenv("SHOP_PASSWORD", raising=False)


@pytest_asyncio.fixture
async def shop() -> AsyncIterator[Running]:
    faults = Faults()
    runner, url = await start_shop(faults=faults)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            yield Running(url, faults, http, runner)
    finally:
        await runner.cleanup()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.asyncio
async def test_home_and_health(shop: Running) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", shop.url) and not shop.url.endswith(":0")
    async with shop.http.get(f"{shop.url}/", timeout=TIMEOUT) as resp:
        assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
        assert 'href="/checkout"' in await resp.text()
    async with shop.http.get(f"{shop.url}/api/health", timeout=TIMEOUT) as resp:
        assert resp.status == 200 and "json" in resp.headers["Content-Type"]
        assert await resp.json() == {"status": "ok"}


@pytest.mark.asyncio
async def test_login_ok_gives_token_and_cookie(shop: Running) -> None:
    async with shop.http.post(f"{shop.url}/api/login", json=CREDENTIALS, timeout=TIMEOUT) as resp:
        assert resp.status == 200
        body = await resp.json()
        assert body["user"] == "demo" and re.fullmatch(r"[0-9a-f]{32}", body["token"])
        assert resp.cookies["session"].value == body["token"]
        assert resp.cookies["session"]["httponly"]
    assert await shop.login() != body["token"], "every login gets a fresh token"


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", [{"user": "demo", "password": "nope"}, {"user": "eve", "password": "x"},
                                     {"user": "demo"}, {"user": 1, "password": ["demo-password"]}])
async def test_login_bad_credentials(shop: Running, payload: dict[str, Any]) -> None:
    async with shop.http.post(f"{shop.url}/api/login", json=payload, timeout=TIMEOUT) as resp:
        assert resp.status == 401
        assert await resp.json() == {"error": "invalid credentials"}
        assert "session" not in resp.cookies


@pytest.mark.asyncio
async def test_login_not_json(shop: Running) -> None:
    async with shop.http.post(f"{shop.url}/api/login", data="user=demo", timeout=TIMEOUT) as resp:
        assert resp.status == 400 and "JSON" in (await resp.json())["error"]


@pytest.mark.asyncio
async def test_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_USER", "alice")
    monkeypatch.setenv("SHOP_PASSWORD", "s3cret")
    runner, url = await start_shop()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.post(f"{url}/api/login", json=CREDENTIALS, timeout=TIMEOUT) as resp:
                assert resp.status == 401
            async with http.post(f"{url}/api/login", json={"user": "alice", "password": "s3cret"},
                                 timeout=TIMEOUT) as resp:
                assert resp.status == 200 and (await resp.json())["user"] == "alice"
            async with http.get(f"{url}/", timeout=TIMEOUT) as resp:
                assert "s3cret" not in await resp.text()
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_cart_with_token(shop: Running) -> None:
    token = await shop.login()
    async with shop.http.get(f"{shop.url}/api/cart", headers=_bearer(token), timeout=TIMEOUT) as resp:
        assert resp.status == 200
        assert await resp.json() == {"items": [{"sku": "ABC-1", "name": "Blue mug", "qty": 1, "price": 12.5}],
                                     "total": 12.5}
    async with shop.http.post(f"{shop.url}/api/cart/items", json={"sku": "DEF-2", "qty": 2},
                              headers=_bearer(token), timeout=TIMEOUT) as resp:
        assert resp.status == 201
        cart = await resp.json()
    assert [(i["sku"], i["qty"]) for i in cart["items"]] == [("ABC-1", 1), ("DEF-2", 2)]
    assert cart["total"] == 20.5
    other = await shop.login()
    async with shop.http.get(f"{shop.url}/api/cart", headers=_bearer(other), timeout=TIMEOUT) as resp:
        assert len((await resp.json())["items"]) == 1, "each login has its own cart"


@pytest.mark.asyncio
async def test_cart_with_cookie(shop: Running) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # like a browser: keeps cookies of an IP address host
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=TIMEOUT) as browser:
        async with browser.post(f"{shop.url}/api/login", json=CREDENTIALS, timeout=TIMEOUT) as resp:
            assert resp.status == 200
        async with browser.get(f"{shop.url}/api/cart", timeout=TIMEOUT) as resp:
            assert resp.status == 200
            assert (await resp.json())["items"][0]["sku"] == "ABC-1"


@pytest.mark.asyncio
async def test_cart_refuses_bad_requests(shop: Running) -> None:
    async with shop.http.get(f"{shop.url}/api/cart", timeout=TIMEOUT) as resp:
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        assert "login required" in (await resp.json())["error"]
    async with shop.http.get(f"{shop.url}/api/cart", headers=_bearer("f00"), timeout=TIMEOUT) as resp:
        assert resp.status == 401
    token = await shop.login()
    for payload, status in (({"sku": "NOPE"}, 404), ({"sku": "ABC-1", "qty": 0}, 400),
                            ({"sku": "ABC-1", "qty": True}, 400), ([1], 400)):
        async with shop.http.post(f"{shop.url}/api/cart/items", json=payload, headers=_bearer(token),
                                  timeout=TIMEOUT) as resp:
            assert resp.status == status, payload
            assert "error" in await resp.json()


@pytest.mark.asyncio
async def test_checkout_page_and_pay_form(shop: Running) -> None:
    async with shop.http.get(f"{shop.url}/checkout", timeout=TIMEOUT) as resp:
        assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
        page = await resp.text()
    assert '<form method="post" action="/checkout/pay">' in page
    assert '<input id="card" name="card"' in page and '<button id="pay" type="submit">Pay</button>' in page
    async with shop.http.post(f"{shop.url}/checkout/pay", data={"card": "4242 4242 4242 4242"},
                              timeout=TIMEOUT) as resp:
        assert resp.status == 200
        assert "Thank you for your order" in await resp.text()
    async with shop.http.post(f"{shop.url}/checkout/pay", data={"card": ""}, timeout=TIMEOUT) as resp:
        assert resp.status == 400
        text = await resp.text()
        assert "Please enter a card number" in text and "Thank you" not in text


@pytest.mark.asyncio
async def test_api_checkout(shop: Running) -> None:
    token = await shop.login()
    pay = {"card": "4242 4242 4242 4242"}
    async with shop.http.post(f"{shop.url}/api/checkout", json=pay, headers=_bearer(token),
                              timeout=TIMEOUT) as resp:
        assert resp.status == 200
        order = await resp.json()
    assert order["status"] == "paid" and re.fullmatch(r"[a-z0-9]+", order["order_id"])
    async with shop.http.get(f"{shop.url}/api/orders/{order['order_id']}", headers=_bearer(token),
                             timeout=TIMEOUT) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "paid"
    async with shop.http.post(f"{shop.url}/api/checkout", json=pay, headers=_bearer(token),
                              timeout=TIMEOUT) as resp:
        assert resp.status == 409, "the paid cart is empty"
    async with shop.http.post(f"{shop.url}/api/checkout", json={}, headers=_bearer(token),
                              timeout=TIMEOUT) as resp:
        assert resp.status == 400 and "card" in (await resp.json())["error"]
    async with shop.http.post(f"{shop.url}/api/checkout", json=pay, timeout=TIMEOUT) as resp:
        assert resp.status == 401


async def _hit(shop: Running, area: str, limit: aiohttp.ClientTimeout = TIMEOUT) -> tuple[int, str]:
    """One request to the area's main endpoint: status and body text."""
    if area == "login":
        request = shop.http.post(f"{shop.url}/api/login", json=CREDENTIALS, timeout=limit)
    elif area == "cart":
        token = await shop.login()
        request = shop.http.get(f"{shop.url}/api/cart", headers=_bearer(token), timeout=limit)
    else:
        request = shop.http.post(f"{shop.url}/checkout/pay", data={"card": "4242424242424242"},
                                 timeout=limit)
    async with request as resp:
        return resp.status, await resp.text()


@pytest.mark.asyncio
@pytest.mark.parametrize("area", ["login", "cart", "checkout"])
async def test_fault_error(shop: Running, area: str) -> None:
    state = await shop.set_fault(area, "error")
    assert state[area]["mode"] == "error"
    status, text = await _hit(shop, area)
    assert status == 500 and f"injected fault: {area}" in text
    async with shop.http.get(f"{shop.url}/api/health", timeout=TIMEOUT) as resp:
        assert resp.status == 200, "health is not an area"


@pytest.mark.asyncio
async def test_fault_all_then_reset(shop: Running) -> None:
    await shop.set_fault("all", "error")
    for area in ("login", "checkout"):
        assert (await _hit(shop, area))[0] == 500
    async with shop.http.delete(f"{shop.url}/_faults", timeout=TIMEOUT) as resp:
        assert resp.status == 200
        assert {f["mode"] for f in (await resp.json()).values()} == {"none"}
    for area in ("login", "cart", "checkout"):
        assert (await _hit(shop, area))[0] == 200
    async with shop.http.get(f"{shop.url}/_faults", timeout=TIMEOUT) as resp:
        assert await resp.json() == {a: {"mode": "none", "delay": 2.0} for a in ("login", "cart", "checkout")}


@pytest.mark.asyncio
@pytest.mark.parametrize("area", ["login", "cart", "checkout"])
async def test_fault_slow(shop: Running, area: str) -> None:
    await _hit(shop, area)  # warm up the connection so only the fault is timed
    await shop.set_fault(area, "slow", delay=0.3)
    start = time.monotonic()
    status, _ = await _hit(shop, area)
    assert status == 200 and time.monotonic() - start >= 0.3


@pytest.mark.asyncio
@pytest.mark.parametrize("area", ["login", "cart", "checkout"])
async def test_fault_hang(shop: Running, area: str) -> None:
    await shop.set_fault(area, "hang")
    with pytest.raises(asyncio.TimeoutError):
        await _hit(shop, area, limit=aiohttp.ClientTimeout(total=0.3))
    for _ in range(50):  # the client gave up: the shop cancels the hanging handler
        if not shop.runner.app[SHOP].stalled:
            break
        await asyncio.sleep(0.02)
    assert not shop.runner.app[SHOP].stalled
    async with shop.http.get(f"{shop.url}/api/health", timeout=TIMEOUT) as resp:
        assert resp.status == 200, "a hanging area does not block the rest"


@pytest.mark.asyncio
async def test_hanging_shop_shuts_down_promptly() -> None:
    runner, url = await start_shop(faults=Faults.from_specs(["all=hang"]))
    async with aiohttp.ClientSession() as http:
        pending = asyncio.ensure_future(http.get(f"{url}/checkout", timeout=TIMEOUT))
        await asyncio.sleep(0.2)
        assert not pending.done()
        start = time.monotonic()
        await runner.cleanup()
        assert time.monotonic() - start < 2, "a hanging handler is cancelled at shutdown"
        with pytest.raises(aiohttp.ClientError):
            await pending


@pytest.mark.asyncio
async def test_fault_wrong(shop: Running) -> None:
    token = await shop.login()
    await shop.set_fault("all", "wrong")
    status, text = await _hit(shop, "login")
    assert status == 200 and "token" not in text
    async with shop.http.get(f"{shop.url}/api/cart", headers=_bearer(token), timeout=TIMEOUT) as resp:
        assert resp.status == 200 and (await resp.json())["items"][0]["sku"] == "XYZ"
    status, text = await _hit(shop, "checkout")
    assert status == 200 and "Thank you" not in text
    async with shop.http.post(f"{shop.url}/api/checkout", json={"card": "4242 4242 4242 4242"},
                              headers=_bearer(token), timeout=TIMEOUT) as resp:
        assert resp.status == 200 and "order_id" not in await resp.json()


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "message"), [
    ({"area": "cart", "mode": "explode"}, "unknown mode 'explode'"),
    ({"area": "shop", "mode": "error"}, "unknown area 'shop'"),
    ({"area": "cart", "mode": "slow", "delay": -1}, "delay must be between"),
    ({"mode": "error"}, "give \"area\" and \"mode\""),
])
async def test_fault_api_refuses_nonsense(shop: Running, body: dict[str, Any], message: str) -> None:
    async with shop.http.post(f"{shop.url}/_faults", json=body, timeout=TIMEOUT) as resp:
        assert resp.status == 400 and message in (await resp.json())["error"]
    assert shop.faults.get("cart").mode == "none"


@pytest.mark.asyncio
async def test_fault_ui(shop: Running) -> None:
    async with shop.http.get(f"{shop.url}/_faults/ui", timeout=TIMEOUT) as resp:
        page = await resp.text()
    assert page.count('action="/_faults/form"') == 5 and '<button name="mode" value="hang"' in page
    form = {"area": "cart", "mode": "slow", "delay": "1.5"}
    async with shop.http.post(f"{shop.url}/_faults/form", data=form, allow_redirects=False,
                              timeout=TIMEOUT) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/_faults/ui"
    assert (shop.faults.get("cart").mode, shop.faults.get("cart").delay) == ("slow", 1.5)
    async with shop.http.post(f"{shop.url}/_faults/form", data={"area": "all", "mode": "none"},
                              timeout=TIMEOUT) as resp:
        assert resp.status == 200 and resp.url.path == "/_faults/ui"
    assert shop.faults.get("cart").mode == "none"
    async with shop.http.post(f"{shop.url}/_faults/form", data={"area": "cart", "mode": "boom"},
                              timeout=TIMEOUT) as resp:
        assert resp.status == 400 and "unknown mode" in await resp.text()


def test_faults_from_specs() -> None:
    faults = Faults.from_specs(["cart=error", "login=slow:3", "checkout=slow:250ms"])
    assert faults.as_dict() == {"login": {"mode": "slow", "delay": 3.0},
                                "cart": {"mode": "error", "delay": 2.0},
                                "checkout": {"mode": "slow", "delay": 0.25}}
    assert {f["mode"] for f in Faults.from_specs(["all=hang"]).as_dict().values()} == {"hang"}
    assert Faults.from_specs([]).get("cart").mode == "none"


@pytest.mark.parametrize(("spec", "message"), [
    ("cart", "write AREA=MODE"), ("cart=", "write AREA=MODE"), ("=error", "write AREA=MODE"),
    ("login=slow:", "write AREA=MODE"), ("cart=explode", "unknown mode 'explode'"),
    ("shop=error", "unknown area 'shop'"), ("login=slow:soon", "invalid duration"),
    ("login=slow:9999", "delay must be between"),
])
def test_faults_from_bad_spec(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"fault {spec!r}: ") + ".*" + re.escape(message)):
        Faults.from_specs(["cart=error", spec])


def test_main_rejects_bad_fault(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--fault", "cart=boom"])
    assert exit_info.value.code == 2 and "unknown mode 'boom'" in capsys.readouterr().err


def _journey_files() -> list[Path]:
    files = sorted(JOURNEYS.glob("*.yaml"))
    assert {f.stem for f in files} >= {"login", "cart", "checkout-api", "health"}
    return files


def test_journeys_validate() -> None:
    from agent.journey.model import Journey

    for path in _journey_files():
        journey = Journey.model_validate(yaml.safe_load(path.read_text()))
        assert journey.name == path.stem
        assert journey.labels.get("team") and 1 <= len(journey.slos) <= 2
        assert all(slo.owner for slo in journey.slos)


@pytest.mark.asyncio
async def test_journey_extract_regexes_match_the_shop(shop: Running) -> None:
    """The regex extracts in the example journeys find what the shop really sends."""
    regexes = {step["name"]: spec["regex"] for path in _journey_files()
               for step in yaml.safe_load(path.read_text())["steps"]
               for spec in step.get("extract", {}).values() if isinstance(spec, dict)}
    token = await shop.login()
    async with shop.http.post(f"{shop.url}/api/checkout", json={"card": "4242 4242 4242 4242"},
                              headers=_bearer(token), timeout=TIMEOUT) as resp:
        body = await resp.text()
        order_id = (await resp.json())["order_id"]
    match = re.search(regexes["pay"], body)
    assert match and match.group(1) == order_id
    async with shop.http.post(f"{shop.url}/api/login", json=CREDENTIALS, timeout=TIMEOUT) as resp:
        match = re.search(regexes["sign in"], resp.headers["Set-Cookie"])
        assert match and match.group(1) == (await resp.json())["token"]
