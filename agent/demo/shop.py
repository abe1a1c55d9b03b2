"""The bundled demo shop: a small aiohttp app for the example journeys, with faults to switch on.

    python -m agent.demo.shop --port 8000 --fault cart=error --fault login=slow:3

Areas `login`, `cart` and `checkout` (or `all`) each take a fault mode: `none`, `error`
(HTTP 500), `slow` (answers after `delay` seconds), `hang` (never answers) or `wrong`
(200 with wrong content). Flip them at run time with `POST /_faults`, `DELETE /_faults`
or the page at `/_faults/ui`. All state is in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agent.demo import shop_pages as pages
from agent.demo.faults import AREAS as AREAS
from agent.demo.faults import DEFAULT_DELAY as DEFAULT_DELAY
from agent.demo.faults import MAX_DELAY as MAX_DELAY
from agent.demo.faults import MODES as MODES
from agent.demo.faults import Fault as Fault
from agent.demo.faults import Faults as Faults

MAX_SESSIONS = 1000
MAX_QTY = 99
DEFAULT_USER = "demo"
DEFAULT_PASSWORD = "demo-password"
CATALOG: dict[str, tuple[str, float]] = {"ABC-1": ("Blue mug", 12.5), "DEF-2": ("Tea towel", 4.0),
                                          "GHI-3": ("Teapot", 29.9)}
WRONG_CART = {"items": [{"sku": "XYZ", "name": "Mystery item", "qty": 1, "price": 0.0}], "total": 0.0}
_CARD = re.compile(r"^[0-9 ]+$")

log = logging.getLogger(__name__)


@dataclass
class Session:
    user: str
    cart: dict[str, int] = field(default_factory=lambda: {"ABC-1": 1})
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Shop:
    faults: Faults
    user: str
    password: str
    sessions: dict[str, Session] = field(default_factory=dict)  # by token, oldest first
    stalled: set[asyncio.Task[Any]] = field(default_factory=set)

    def new_session(self, user: str) -> str:
        token = secrets.token_hex(16)
        self.sessions[token] = Session(user)
        while len(self.sessions) > MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]
        return token


SHOP = web.AppKey("shop", Shop)

_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound,
    409: web.HTTPConflict, 500: web.HTTPInternalServerError,
}


def _error(status: int, message: str, **headers: str) -> web.HTTPException:
    return _ERRORS[status](text=json.dumps({"error": message}), content_type="application/json",
                           headers=headers or None)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


async def _stall(shop: Shop, seconds: float | None) -> None:
    """Wait `seconds`, or forever when None; the shop cancels the wait when it shuts down."""
    task = asyncio.current_task()
    if task is not None:
        shop.stalled.add(task)
    try:
        if seconds is None:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        else:
            await asyncio.sleep(seconds)
    finally:
        if task is not None:
            shop.stalled.discard(task)


async def _fault(request: web.Request, area: str) -> bool:
    """Apply the area's fault; True when the handler must answer with wrong content."""
    shop = request.app[SHOP]
    fault = shop.faults.get(area)
    if fault.mode == "error":
        raise _error(500, f"injected fault: {area} is failing")
    if fault.mode == "slow":
        await _stall(shop, fault.delay)
    elif fault.mode == "hang":
        await _stall(shop, None)
    return fault.mode == "wrong"


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _error(400, "the body must be a JSON object")
    return body


def _session(request: web.Request) -> Session:
    """The session of the bearer token, else of the `session` cookie; 401 without either."""
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.cookies.get("session", "")
    session = request.app[SHOP].sessions.get(token.strip())
    if session is None:
        raise _error(401, "login required: send Authorization: Bearer TOKEN or the session cookie",
                     **{"WWW-Authenticate": "Bearer"})
    return session


def _cart_view(session: Session) -> dict[str, Any]:
    items = [{"sku": sku, "name": CATALOG[sku][0], "qty": qty, "price": CATALOG[sku][1]}
             for sku, qty in session.cart.items()]
    total = sum(qty * CATALOG[sku][1] for sku, qty in session.cart.items())
    return {"items": items, "total": round(total, 2)}


def _valid_card(card: object) -> bool:
    return isinstance(card, str) and bool(_CARD.match(card)) and 12 <= len(card.replace(" ", "")) <= 19


# --- handlers ---------------------------------------------------------------------------

async def home(request: web.Request) -> web.Response:
    shop = request.app[SHOP]
    return _html(pages.home_page(shop.user, shop.password if shop.password == DEFAULT_PASSWORD else None))


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def login(request: web.Request) -> web.Response:
    wrong = await _fault(request, "login")
    shop = request.app[SHOP]
    body = await _json_object(request)
    user, password = body.get("user"), body.get("password")
    if not (isinstance(user, str) and isinstance(password, str)
            and secrets.compare_digest(user.encode(), shop.user.encode())
            and secrets.compare_digest(password.encode(), shop.password.encode())):
        raise _error(401, "invalid credentials")
    if wrong:
        return web.json_response({"user": user})
    token = shop.new_session(user)
    response = web.json_response({"token": token, "user": user})
    response.set_cookie("session", token, httponly=True, samesite="Lax", path="/")
    return response


async def login_form(request: web.Request) -> web.Response:
    return _html(pages.login_page())


async def login_submit(request: web.Request) -> web.Response:
    """The HTML sign-in: a session cookie and a redirect to /account (the `login` fault applies)."""
    await _fault(request, "login")
    shop = request.app[SHOP]
    form = await request.post()
    user, password = str(form.get("user", "")), str(form.get("password", ""))
    if not (secrets.compare_digest(user.encode(), shop.user.encode())
            and secrets.compare_digest(password.encode(), shop.password.encode())):
        return _html(pages.login_page("Wrong user name or password."), 401)
    response = web.HTTPSeeOther("/account")
    response.set_cookie("session", shop.new_session(user), httponly=True, samesite="Lax", path="/")
    raise response


async def account(request: web.Request) -> web.Response:
    try:
        session = _session(request)
    except web.HTTPUnauthorized:
        raise web.HTTPSeeOther("/login") from None
    return _html(pages.account_page(session.user, sum(session.cart.values())))


async def get_cart(request: web.Request) -> web.Response:
    wrong = await _fault(request, "cart")
    session = _session(request)
    return web.json_response(WRONG_CART if wrong else _cart_view(session))


async def add_cart_item(request: web.Request) -> web.Response:
    wrong = await _fault(request, "cart")
    session = _session(request)
    body = await _json_object(request)
    sku, qty = body.get("sku"), body.get("qty", 1)
    if not isinstance(sku, str) or sku not in CATALOG:
        raise _error(404, f"unknown sku {sku!r}; try one of {', '.join(CATALOG)}")
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
        raise _error(400, f"qty must be a whole number from 1 to {MAX_QTY}")
    if wrong:
        return web.json_response(WRONG_CART, status=201)
    session.cart[sku] = min(session.cart.get(sku, 0) + qty, MAX_QTY)
    return web.json_response(_cart_view(session), status=201)


async def api_checkout(request: web.Request) -> web.Response:
    wrong = await _fault(request, "checkout")
    session = _session(request)
    body = await _json_object(request)
    if not _valid_card(body.get("card")):
        raise _error(400, "card must be a card number such as 4242 4242 4242 4242")
    if not session.cart:
        raise _error(409, "the cart is empty")
    if wrong:
        return web.json_response({"status": "pending"})
    order_id = secrets.token_hex(6)
    order = {"order_id": order_id, "status": "paid", "total": _cart_view(session)["total"]}
    session.orders[order_id] = order
    session.cart.clear()
    return web.json_response(order)


async def get_order(request: web.Request) -> web.Response:
    wrong = await _fault(request, "checkout")
    order = _session(request).orders.get(request.match_info["order_id"])
    if order is None:
        raise _error(404, "no such order")
    return web.json_response({**order, "status": "pending"} if wrong else order)


async def checkout_page(request: web.Request) -> web.Response:
    await _fault(request, "checkout")  # `wrong` shows on the page after paying
    return _html(pages.checkout_page())


async def checkout_pay(request: web.Request) -> web.Response:
    wrong = await _fault(request, "checkout")
    form = await request.post()
    if not _valid_card(form.get("card")):
        return _html(pages.checkout_page("Please enter a card number such as 4242 4242 4242 4242."), 400)
    if wrong:
        return _html(pages.processing_page())
    return _html(pages.thank_you_page(secrets.token_hex(6)))


async def faults_get(request: web.Request) -> web.Response:
    return web.json_response(request.app[SHOP].faults.as_dict())


async def faults_post(request: web.Request) -> web.Response:
    faults = request.app[SHOP].faults
    body = await _json_object(request)
    area, mode = body.get("area"), body.get("mode")
    if not isinstance(area, str) or not isinstance(mode, str):
        raise _error(400, 'give "area" and "mode", such as {"area": "cart", "mode": "error"}')
    try:
        faults.set(area, mode, body.get("delay"))
    except ValueError as exc:
        raise _error(400, str(exc)) from None
    log.info("demo shop fault: %s=%s", area, mode)
    return web.json_response(faults.as_dict())


async def faults_delete(request: web.Request) -> web.Response:
    faults = request.app[SHOP].faults
    faults.reset()
    return web.json_response(faults.as_dict())


async def faults_ui(request: web.Request) -> web.Response:
    return _html(pages.faults_page(request.app[SHOP].faults.as_dict(), MODES))


async def faults_form(request: web.Request) -> web.Response:
    faults = request.app[SHOP].faults
    form = await request.post()
    area, mode, delay = str(form.get("area", "")), str(form.get("mode", "")), form.get("delay")
    try:
        faults.set(area, mode, delay if isinstance(delay, str) and delay.strip() else None)
    except ValueError as exc:
        return _html(pages.faults_page(faults.as_dict(), MODES, str(exc)), 400)
    raise web.HTTPSeeOther("/_faults/ui")


async def _cancel_stalled(app: web.Application) -> None:
    """Cancel hanging and slow handlers so the server stops without waiting on them."""
    for task in list(app[SHOP].stalled):
        task.cancel()


def create_app(faults: Faults | None = None) -> web.Application:
    """The shop; credentials from SHOP_USER / SHOP_PASSWORD, else demo / demo-password."""
    app = web.Application()
    app[SHOP] = Shop(faults=faults if faults is not None else Faults(),
                     user=os.environ.get("SHOP_USER") or DEFAULT_USER,
                     password=os.environ.get("SHOP_PASSWORD") or DEFAULT_PASSWORD)
    app.add_routes([
        web.get("/", home), web.get("/api/health", health), web.post("/api/login", login),
        web.get("/login", login_form), web.post("/login", login_submit), web.get("/account", account),
        web.get("/api/cart", get_cart), web.post("/api/cart/items", add_cart_item),
        web.post("/api/checkout", api_checkout), web.get("/api/orders/{order_id}", get_order),
        web.get("/checkout", checkout_page), web.post("/checkout/pay", checkout_pay),
        web.get("/_faults", faults_get), web.post("/_faults", faults_post),
        web.delete("/_faults", faults_delete), web.get("/_faults/ui", faults_ui),
        web.post("/_faults/form", faults_form),
    ])
    app.on_shutdown.append(_cancel_stalled)
    return app


async def start_shop(host: str = "127.0.0.1", port: int = 0, *,
                     faults: Faults | None = None) -> tuple[web.AppRunner, str]:
    """Serve the shop; returns the runner (call `cleanup()` to stop) and the base URL.

    Port 0 picks a free port; the URL carries the one actually bound.
    """
    # handler_cancellation: a handler whose client went away (gave up on a hang) is cancelled
    runner = web.AppRunner(create_app(faults), shutdown_timeout=5.0, handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    url_host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in url_host:
        url_host = f"[{url_host}]"
    return runner, f"http://{url_host}:{bound_port}"


async def _serve(host: str, port: int, faults: Faults) -> None:
    runner, url = await start_shop(host, port, faults=faults)
    print(f"demo shop on {url}  (faults: {url}/_faults/ui; Ctrl-C stops)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agent.demo.shop",
                                     description="The journeyprobe demo shop, with switchable faults.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--fault", action="append", default=[], metavar="AREA=MODE[:DELAY]",
                        help=f"switch on a fault at start, repeatable; areas {', '.join(AREAS)}, all; "
                             f"modes {', '.join(MODES)}; such as cart=error or login=slow:3")
    args = parser.parse_args(argv)
    try:
        faults = Faults.from_specs(args.fault)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the shop stops cleanly in _serve
        asyncio.run(_serve(args.host, args.port, faults))


if __name__ == "__main__":
    main()
