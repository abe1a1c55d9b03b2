"""Jinja2 environments of the status page and the report, the inline stylesheet and its CSP."""

from __future__ import annotations

import base64
import hashlib
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from agent.web.status_page.text import md_escape

STYLE = resources.files("agent.web.status_page").joinpath("templates/style.css").read_text(encoding="utf-8")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self' data:; "
       "form-action 'self'; base-uri 'none'")
"""No script may run at all; only our own stylesheet applies (given in a <meta> element, too)."""
HEADER_CSP = CSP + "; frame-ancestors 'none'"
PAGES = ("overview.html", "journey.html", "login.html", "not_found.html", "report.html")

HTML = Environment(loader=PackageLoader("agent.web.status_page", "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
"""Autoescape ON: every value is HTML-escaped unless it is Markup built by `charts`."""

MARKDOWN = Environment(loader=PackageLoader("agent.web.status_page", "templates"), autoescape=False,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       finalize=md_escape, keep_trailing_newline=True)
"""Markdown: every `{{ value }}` goes through `md_escape` (no raw HTML, no broken tables)."""


def warm() -> None:
    """Load and compile every template now (blocking file reads), not on the first request."""
    for name in PAGES:
        HTML.get_template(name)
    MARKDOWN.get_template("report.md.j2")


def render_html(template: str, **context: Any) -> str:
    """A whole HTML page with the stylesheet inline."""
    return HTML.get_template(template).render(css=Markup(STYLE), csp=CSP, **context)


def render_markdown(template: str, **context: Any) -> str:
    return MARKDOWN.get_template(template).render(**context)
