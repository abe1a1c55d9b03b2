"""A secret a page shows (typed into it, or echoed by the target) never reaches a result or an artifact.

The browser strips a tag from `pa"ss\\wörd<y>` when the page shows it as HTML: what shows is
`pa"ss\\wörd`, which is redacted too. Failure screenshots cover a text showing a secret; a trace
archive holding one (the page's HTML, a network body) is dropped.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path

import pytest
from aiohttp import web

from agent.core import redaction
from agent.probe.result import Outcome, RunResult
from tests.conftest import journey
from tests.leak_search import leaks
from tests.targets import serve
from tests.test_browser import _magenta_pixels
from tests.test_browser_pages import browser_runner

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Chromium")
SECRET = 'pa"ss\\wörd<y>'
SHOWN = 'pa"ss\\wörd'  # what a browser shows of it, the tag stripped
LIMIT = 60

FORM = """<!doctype html><html><body><h1>Form</h1><input id="pw"><div id="out"></div>
<script>document.getElementById('pw').addEventListener('input', e => {
  document.getElementById('out').innerHTML = 'you typed: ' + e.target.value; });</script></body></html>"""


def page_app() -> web.Application:
    stored: list[str] = []

    async def form(request: web.Request) -> web.Response:
        return web.Response(text=FORM, content_type="text/html")

    async def store(request: web.Request) -> web.Response:
        stored.append(str((await request.json())["v"]))
        return web.json_response({"ok": True})

    async def show(request: web.Request) -> web.Response:
        shown = stored[-1] if stored else ""
        return web.Response(text=f"<!doctype html><html><body><h1>Stored</h1><p id='v'>stored: {shown}</p>"
                                 "</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/form", form)
    app.router.add_post("/store", store)
    app.router.add_get("/stored", show)
    return app


def artifact_texts(paths: list[str]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                out += [(f"{path}:{m}", archive.read(m).decode("utf-8", "replace")) for m in archive.namelist()]
        else:
            out.append((path, Path(path).read_bytes().decode("utf-8", "replace")))
    return out


def assert_clean(result: RunResult, folder: Path) -> None:
    text = json.dumps(result.to_dict()) + json.dumps(result.to_dict(), ensure_ascii=False)
    assert not leaks(text, SECRET) and not leaks(text, SHOWN), text
    files = [str(p) for p in folder.rglob("*") if p.is_file()]
    for name, content in artifact_texts(files):
        assert not leaks(content, SECRET) and not leaks(content, SHOWN), name


async def test_a_typed_secret_the_page_shows_without_its_tag(tmp_path: Path) -> None:
    flow = journey([{"name": "type", "browser": [
        {"goto": "{{ base }}/form"},
        {"fill": {"selector": "#pw", "value": "{{ secret.JP_LEAK_SECRET }}"}},
        {"expect_text": {"text": "never shown", "selector": "#out", "timeout": "1s"}},
    ]}], name="typed")
    async with asyncio.timeout(LIMIT), serve(page_app()) as base, browser_runner(tmp_path) as runner:
        runner.environ = {"JP_LEAK_SECRET": SECRET}
        runner.overrides = {"base": base}
        result = await runner.run(flow)
    step = result.steps[0]
    assert step.outcome is Outcome.FAILURE and step.error is not None
    assert 'the page shows: "you typed: [REDACTED]' in step.error, step.error
    assert [Path(p).name for p in step.artifacts] == ["type-failure.png"]  # the trace went when it was typed
    assert _magenta_pixels(Path(step.artifacts[0])) > 500
    assert_clean(result, tmp_path / "artifacts")


async def test_a_secret_echoed_into_a_page_drops_the_trace_and_is_masked(tmp_path: Path) -> None:
    """Nothing typed it, so the trace is recorded; it holds the page with the secret, so it is dropped."""
    flow = journey([
        {"name": "send", "http": {"url": "{{ base }}/store", "method": "POST",
                                  "json": {"v": "{{ secret.JP_LEAK_SECRET }}"}}},
        {"name": "look", "browser": [
            {"goto": "{{ base }}/stored"},
            {"expect_text": {"text": "never shown", "timeout": "1s"}},
        ]}], name="echoed")
    async with asyncio.timeout(LIMIT), serve(page_app()) as base, browser_runner(tmp_path) as runner:
        runner.environ = {"JP_LEAK_SECRET": SECRET}
        runner.overrides = {"base": base}
        result = await runner.run(flow)
    step = result.steps[1]
    assert step.outcome is Outcome.FAILURE and step.error is not None
    assert "stored: [REDACTED]" in step.error, step.error
    assert [Path(p).name for p in step.artifacts] == ["look-failure.png"]
    assert not list((tmp_path / "artifacts").rglob("*.zip"))
    assert _magenta_pixels(Path(step.artifacts[0])) > 500  # the paragraph showing it is covered
    assert_clean(result, tmp_path / "artifacts")
    assert redaction.redactor().holds(SHOWN)
