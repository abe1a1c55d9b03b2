"""HTML pages of the demo shop: plain forms, no JavaScript, so any client can walk them."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; } td, th { padding: .3rem .6rem; border-bottom: 1px solid #ddd; }
.error { color: #b00020; } .on { font-weight: bold; text-decoration: underline; }
code { background: #f3f3f3; padding: 0 .2rem; }
"""


def _layout(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n")


def home_page(user: str, password: str | None) -> str:
    """`password` is shown only when it is the well-known demo one."""
    secret = f"<code>{escape(password)}</code>" if password else "the one in <code>SHOP_PASSWORD</code>"
    return _layout("journeyprobe demo shop", f"""
<p>A tiny shop for journeyprobe's example journeys to probe. Sign in as
<code>{escape(user)}</code> with password {secret}.</p>
<ul>
  <li><a href="/login">Sign in</a> (a login form, for `journeyprobe record`)</li>
  <li><a href="/checkout">Checkout</a> (a plain HTML form)</li>
  <li><a href="/_faults/ui">Faults</a>: make the shop fail, slow down, hang or lie</li>
</ul>
<h2>API</h2>
<ul>
  <li><code>GET /api/health</code></li>
  <li><code>POST /api/login</code> <code>{{"user": ..., "password": ...}}</code></li>
  <li><code>GET /api/cart</code>,
      <code>POST /api/cart/items</code> <code>{{"sku": "DEF-2", "qty": 1}}</code></li>
  <li><code>POST /api/checkout</code> <code>{{"card": "4242 4242 4242 4242"}}</code>,
      <code>GET /api/orders/ORDER_ID</code></li>
  <li><code>GET|POST|DELETE /_faults</code></li>
</ul>""")


def login_page(error: str = "") -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>\n' if error else ""
    return _layout("Sign in", f"""{message}<form method="post" action="/login">
  <p><label for="user">User name</label> <input id="user" name="user" autocomplete="username"></p>
  <p><label for="password">Password</label>
     <input id="password" name="password" type="password" autocomplete="current-password"></p>
  <button type="submit">Sign in</button>
</form>""")


def account_page(user: str, items: int) -> str:
    return _layout("Your account", f"""<p id="welcome">Signed in as {escape(user)}.</p>
<p>Your cart holds {items} item{"" if items == 1 else "s"}. <a href="/checkout">Checkout</a></p>""")


def checkout_page(error: str = "") -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>\n' if error else ""
    return _layout("Checkout", f"""{message}<p>One Blue mug, 12.50.</p>
<form method="post" action="/checkout/pay">
  <label for="card">Card number</label>
  <input id="card" name="card" autocomplete="cc-number" placeholder="4242 4242 4242 4242">
  <button id="pay" type="submit">Pay</button>
</form>""")


def thank_you_page(order_id: str) -> str:
    return _layout("Order confirmed", f"""<p id="confirmation">Thank you for your order!</p>
<p>Order number: <span id="order-id">{escape(order_id)}</span></p>
<p><a href="/">Back to the shop</a></p>""")


def processing_page() -> str:
    """What the `wrong` fault shows instead of the confirmation: a 200 that is no success."""
    return _layout("Order", """<p>We are looking into your order. Please check back later.</p>
<p><a href="/">Back to the shop</a></p>""")


def faults_page(state: dict[str, dict[str, Any]], modes: tuple[str, ...], error: str = "") -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>\n' if error else ""
    rows = []
    for area, fault in [*state.items(), ("all", {"mode": "", "delay": 2.0})]:
        buttons = " ".join(
            f'<button name="mode" value="{m}"{" class=on" if m == fault["mode"] else ""}>{m}</button>'
            for m in modes)
        rows.append(
            f'<tr><th>{escape(area)}</th><td>{escape(str(fault["mode"]) or "-")}</td><td>'
            f'<form method="post" action="/_faults/form">'
            f'<input type="hidden" name="area" value="{escape(area)}">'
            f'<label>delay <input name="delay" size="3" value="{fault["delay"]:g}">s</label> '
            f'{buttons}</form></td></tr>')
    return _layout("Demo shop faults", f"""{message}<p>Switch on a fault, then watch the journeys
that probe this shop notice it. <code>slow</code> waits the delay before answering,
<code>hang</code> never answers, <code>wrong</code> answers 200 with wrong content.</p>
<table><tr><th>area</th><th>now</th><th>set</th></tr>
{chr(10).join(rows)}
</table>
<form method="post" action="/_faults/form"><input type="hidden" name="area" value="all">
<button name="mode" value="none">Reset all</button></form>
<p>Also as JSON: <a href="/_faults"><code>GET /_faults</code></a>.</p>""")
