"""A small shop served by aiohttp for the browser tests (no tests here; imported by test_browser*.py)."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.journey.model import Journey
from agent.probe.context import ProbeSettings
from agent.probe.runner import Runner
from tests.conftest import journey
from tests.targets import Seen

FORM = """<!doctype html><html><head><title>Checkout</title></head><body>
<h1>Checkout</h1>
<form method="post" action="/pay">
  <label>Name <input id="name" name="name"></label>
  <label>Card <input id="card" name="card"></label>
  <select id="country" name="country">
    <option value="FR">France</option><option value="JP">Japan</option>
  </select>
  <button id="pay" type="submit">Pay</button>
</form></body></html>"""

# The banner comes once the heading has painted (a shift before the first paint is no shift), and
# "shift seen" once the page's own observer got the layout shift: the agent's observer, registered first
# by the init script, has it by then too, so a journey that waits for "shift seen" reads a CLS above 0.
VITALS = """<!doctype html><html><head><title>Vitals</title></head><body>
<h1 style="font-size:48px">Largest heading of the page</h1><p id="p">Some text.</p>
<script>
new PerformanceObserver((list, observer) => {
  if (!list.getEntries().some((e) => e.name === 'first-contentful-paint')) return;
  observer.disconnect();
  setTimeout(() => { const d = document.createElement('div'); d.style.height = '150px';
    d.textContent = 'banner'; document.body.prepend(d); }, 50);
}).observe({type: 'paint', buffered: true});
new PerformanceObserver((list, observer) => {
  observer.disconnect();
  const p = document.createElement('p'); p.textContent = 'shift seen'; document.body.append(p);
}).observe({type: 'layout-shift', buffered: true});
</script></body></html>"""

JS_ERROR = """<!doctype html><html><body><h1>Broken page</h1>
<script>console.error("boom from console"); undefinedFunction();</script></body></html>"""

GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
BLANK = """<!doctype html><html><head><title>Nothing to paint</title></head><body></body></html>"""
LATE_PAINT = """<!doctype html><html><head><title>Late</title></head><body><script>
addEventListener('load', () => setTimeout(() => {
  document.body.insertAdjacentHTML('afterbegin', '<h1>Painted after load</h1>'); }, 250));
</script></body></html>"""
NEVER_LOADS = """<!doctype html><html><body><h1>Almost there</h1><img src="/hang.png"></body></html>"""


def shop_app(seen: Seen, *, third_party: str = "") -> web.Application:
    """Checkout form, thanks page, vitals page, a page with JS errors, pages that hang."""
    forever = asyncio.Event()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.requests.append({"path": request.path, "method": request.method,
                              "headers": dict(request.headers)})
        return await handler(request)

    def page(body: str) -> web.Response:
        return web.Response(text=body, content_type="text/html")

    async def form(request: web.Request) -> web.Response:
        return page(FORM)

    async def pay(request: web.Request) -> web.Response:
        data = await request.post()
        if data.get("card") == "4242 4242 4242 4242":
            raise web.HTTPSeeOther(f"/thanks?name={data.get('name', '')}&country={data.get('country', '')}")
        return page("<!doctype html><html><body><h1>Payment declined</h1>"
                    "<p>Your card was refused by the bank. Try another card.</p>"
                    "<div hidden>Thank you for paying (a template the page never shows)</div></body></html>")

    async def thanks(request: web.Request) -> web.Response:
        name = html.escape(request.query.get("name", ""))
        country = html.escape(request.query.get("country", ""))
        return page(f"<!doctype html><html><body><h1>Thank you, {name}!</h1>"
                    f"<p id='country'>Shipping to {country}</p></body></html>")

    async def with_third_party(request: web.Request) -> web.Response:
        return page(f"<!doctype html><html><body><h1>Home</h1><img src='{third_party}/pixel.gif'>"
                    "<img src='/logo.gif'></body></html>")

    async def gif(request: web.Request) -> web.Response:
        return web.Response(body=GIF, content_type="image/gif")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "1")))
        return page("<!doctype html><html><body><h1>Slow but there</h1></body></html>")

    async def hang(request: web.Request) -> web.Response:
        await forever.wait()
        return web.Response(text="never")

    app = web.Application(middlewares=[record])
    app.router.add_get("/checkout", form)
    app.router.add_post("/pay", pay)
    app.router.add_get("/thanks", thanks)
    for path, body in (("/vitals", VITALS), ("/js-error", JS_ERROR), ("/never-loads", NEVER_LOADS),
                       ("/blank", BLANK), ("/late-paint", LATE_PAINT)):
        app.router.add_get(path, _static(body))
    app.router.add_get("/home", with_third_party)
    app.router.add_get("/logo.gif", gif)
    app.router.add_get("/pixel.gif", gif)
    app.router.add_get("/hang.png", hang)
    app.router.add_get("/hang", hang)
    app.router.add_get("/slow", slow)
    return app


def _static(body: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html")
    return handler


@asynccontextmanager
async def browser_runner(tmp_path: Path, **config: Any) -> AsyncIterator[Runner]:
    """A Runner whose artifacts go under tmp_path; its shared browser is closed at the end."""
    from agent.config.models import BrowserConfig

    runner = Runner(ProbeSettings(artifacts_dir=tmp_path / "artifacts"),
                    environ={"SHOP_CARD": "4242 4242 4242 4242"})
    if config:
        runner.resources.browser = BrowserConfig(**config)
    try:
        yield runner
    finally:
        await runner.resources.close()


def checkout_journey(base: str, card: str = "4242 4242 4242 4242", expect: str = "Thank you",
                     **extra: Any) -> Journey:
    return journey([{"name": "pay", "browser": [
        {"goto": f"{base}/checkout"},
        {"fill": {"selector": "#name", "value": "Ada"}},
        {"fill": {"selector": "#card", "value": card}},
        {"select": {"selector": "#country", "value": "JP"}},
        {"click": "#pay"},
        {"expect_text": {"text": expect, "timeout": "3s"}},
        {"expect_url": "/thanks*"},
    ]}], **extra)
