"""A target echoes a secret back in every way it can; no output of the agent shows it, in any encoding.

The secret goes out in a JSON body, a header, the URL (path and query) and a basic-auth password;
the target answers with all of it (JSON-escaped in the body, URL-encoded in a header, the
Authorization header's base64), and expectations fail so that their messages quote what was seen,
the body cut at 200 characters. Then every output is searched (tests/leak_search.py): `check`'s
terminal output, `--json`, JUnit and OTLP spans; a daemon's store, jsonl, logs, OTLP spans,
/metrics, status page and API.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.cli.check import CheckOptions, run_check
from agent.core import redaction
from agent.daemon.logs import setup_logging, stop_logging
from agent.expect.expression import ResponseView, parse
from agent.journey.loader import load_journeys
from agent.probe.context import ProbeSettings
from tests.daemon_helpers import config, running_daemon
from tests.leak_search import leaks, strings_of
from tests.otlp_receiver import otlp_receiver
from tests.targets import serve

SECRET_ENV = "JP_LEAK_SECRET"
USER = "ada"
FIXED_SECRET = 'pa"ss\\wörd<y>'
JOURNEYS = ("leak-body", "leak-token", "leak-header", "leak-auth", "leak-redirect")
_SPECIALS = [*"\"\\'<>&%+ /?#=;:@!$(){}*,|`^", "ö", "é", "€", "ß", "中", "😀", "\t"]
_ALPHABET = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + _SPECIALS
SECRETS = st.text(st.sampled_from(_ALPHABET), min_size=6, max_size=32).filter(
    lambda s: sum(c.isascii() and c.isalnum() for c in s) >= 3 and s == s.strip())
BODY_PREFIX = '{"filler": "'  # the echo's body starts so; the secret follows the filler
TOKEN_KEY = '", "token": "'


def echo_app(filler: int) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        sent = await request.text()
        document = {"filler": "~" * filler, "token": request.query.get("token", ""), "sent": sent,
                    "auth": request.headers.get("Authorization", ""), "url": str(request.url),
                    "path": request.path, "header": request.headers.get("X-Token", "")}
        return web.Response(text=json.dumps(document), content_type="application/json",
                            headers={"X-Echo": request.headers.get("X-Token", ""),
                                     "X-Auth-Echo": request.headers.get("Authorization", "")})

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.rel_url))  # the error names the last URL: path and query hold the secret

    app = web.Application()
    app.router.add_route("*", "/echo/{tail:.*}", echo)
    app.router.add_route("*", "/loop/{tail:.*}", loop)
    return app


def write_journeys(folder: Path, base: str) -> list[str]:
    secret = f"{{{{ secret.{SECRET_ENV} }}}}"
    quoted = f"{{{{ secret.{SECRET_ENV} | urlencode }}}}"
    expectations = {
        "leak-body": ['body contains "never in the body"'],
        "leak-token": ['json.token == "x"', 'json.sent == "x"', 'json.url == "x"'],
        "leak-header": ['header.X-Echo == "x"', 'json.path == "x"', 'json.header == "x"'],
        "leak-auth": ['header.X-Auth-Echo == "x"', 'json.auth == "x"', 'body contains "never"'],
        "leak-redirect": ["status == 200"],
    }
    paths = []
    for name, expect in expectations.items():
        where = "loop" if name == "leak-redirect" else "echo"
        lines = [f"url: '{base}/{where}/{quoted}'", "method: POST", f"query: {{token: '{secret}'}}",
                 f"headers: {{X-Token: '{quoted}'}}", f"json: {{password: '{secret}'}}", "max_redirects: 2"]
        if name == "leak-auth":
            lines.append(f"basic_auth: {{username: {USER}, password: '{secret}'}}")
        http = "".join(f"      {line}\n" for line in lines)
        text = f"name: {name}\ninterval: 1h\nsteps:\n  - name: echo\n    http:\n{http}"
        text += f"    expect: {json.dumps(expect)}\n"
        path = folder / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return paths


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_outputs(paths: list[str], folder: Path, otlp: str) -> dict[str, str]:
    """`journeyprobe check`: its terminal output with JUnit and OTLP, then `--json` (it runs its own loop)."""
    journeys = load_journeys(paths)
    terminal, as_json = io.StringIO(), io.StringIO()
    junit = folder / "junit.xml"
    with contextlib.redirect_stdout(terminal):
        code = run_check(journeys, CheckOptions(settings=ProbeSettings(location="leak", artifacts_dir=folder / "art"),
                                                junit=str(junit), otlp=otlp, progress=False))
    with contextlib.redirect_stdout(as_json):
        run_check(journeys, CheckOptions(settings=ProbeSettings(location="leak", artifacts_dir=folder / "art"),
                                         as_json=True, progress=False))
    assert code == 1
    return {"check terminal": terminal.getvalue(), "check --json": as_json.getvalue(),
            "check JUnit": junit.read_text(encoding="utf-8")}


async def daemon_outputs(paths: list[str], folder: Path, otlp: str) -> dict[str, str]:
    """A daemon (in this process) runs each journey once; its store, jsonl, logs, web outputs."""
    logs = io.StringIO()
    setup_logging("json", "info", stream=logs)
    cfg = config(folder, exporters={"otlp": {"endpoint": otlp, "interval": "1h"},
                                    "jsonl": {"path": str(folder / "results.jsonl")}})
    outputs: dict[str, str] = {}
    try:
        async with running_daemon(cfg, paths) as daemon:
            for journey in list(daemon.state.journeys.values()):
                await daemon.publish(await daemon.runner.run(journey), journey)
            assert daemon.state.store is not None
            await daemon.state.store.flush()
            async with aiohttp.ClientSession() as session:
                pages = ["/", "/metrics", "/api/v1/journeys", *(f"/journeys/{n}" for n in JOURNEYS),
                         *(f"/api/v1/journeys/{n}/runs" for n in JOURNEYS)]
                for page in pages:
                    async with session.get(daemon.base_url + page) as response:
                        assert response.status == 200, page
                        outputs[f"daemon {page}"] = await response.text()
    finally:
        stop_logging()
    outputs["daemon logs"] = logs.getvalue()
    outputs["daemon jsonl"] = (folder / "results.jsonl").read_text(encoding="utf-8")
    outputs["daemon store"] = store_text(folder / "store.db")
    return outputs


def store_text(path: Path) -> str:
    """Every value of every table of the SQLite store."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [repr(row) + "\n" + "\n".join(str(v) for v in row)
                for table in tables for row in db.execute(f'SELECT * FROM "{table}"')]
    return "\n".join(rows)


async def all_outputs(secret: str, filler: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="jp-leak-") as tmp, environment(**{SECRET_ENV: secret, "COLUMNS": "500"}):
        folder = Path(tmp)
        async with serve(echo_app(filler)) as base, otlp_receiver() as receiver:
            paths = write_journeys(folder, base)
            outputs = await asyncio.to_thread(check_outputs, paths, folder, receiver.url)
            outputs.update(await daemon_outputs(paths, folder, receiver.url))
            await receiver.wait_for(lambda r: len(r.spans()) >= 2 * 3 * len(JOURNEYS))
            outputs["OTLP spans"] = "\n".join(s for span in receiver.spans() for s in strings_of(span))
    return outputs


def assert_no_leak(outputs: dict[str, str], secret: str) -> None:
    found = {name: hits for name, text in outputs.items() if (hits := leaks(text, secret, USER))}
    assert not found, f"secret {secret!r} leaked: {found}"


def echoed(outputs: dict[str, str]) -> None:
    """The secret did go out and come back: the messages show where it was redacted."""
    assert outputs["check terminal"].count(redaction.REDACTED) >= len(JOURNEYS), outputs["check terminal"]
    assert redaction.REDACTED in outputs["daemon store"] and redaction.REDACTED in outputs["OTLP spans"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=SECRETS, filler=st.integers(min_value=150, max_value=200))
def test_a_secret_echoed_in_every_encoding_reaches_no_output(secret: str, filler: int) -> None:
    outputs = asyncio.run(all_outputs(secret, filler))
    assert_no_leak(outputs, secret)
    echoed(outputs)


def test_a_quote_a_backslash_non_ascii_and_a_tag_and_the_cut_at_200() -> None:
    """`pa"ss\\wörd<y>`, placed so that the 200-character cut of the body falls inside it."""
    escaped = json.dumps(FIXED_SECRET)[1:-1]
    filler = 200 - len(BODY_PREFIX) - len(TOKEN_KEY) - 4  # the cut falls four characters into the secret
    assert len(BODY_PREFIX) + filler + len(TOKEN_KEY) + len(escaped) > 200
    outputs = asyncio.run(all_outputs(FIXED_SECRET, filler))
    assert_no_leak(outputs, FIXED_SECRET)
    echoed(outputs)
    assert re.search(r'token\\": \\"\[[A-Z]*\]?…" \(\d+ bytes\)', outputs["check terminal"])


def test_the_cut_never_shows_the_beginning_of_a_secret() -> None:
    """The expectation message's cut at 200 characters, on its own: the secret is redacted first."""
    secret = "Zq7-cut-secret-Zq7"
    redaction.register(secret)
    for start in range(185, 201):
        body = "~" * start + secret + "~" * 50
        message = parse('body contains "absent"').evaluate(ResponseView(200, 0.1, body, {}))
        assert message is not None
        assert "Zq" not in message and "~Z" not in message, (start, message)


def test_each_encoding_alone_is_redacted() -> None:
    """Every form the leak search knows, one by one, inside some text: the redactor removes it."""
    from tests.leak_search import encodings

    redactor = redaction.Redactor([FIXED_SECRET, f"{USER}:{FIXED_SECRET}"])
    every, _ = encodings(FIXED_SECRET, USER)
    missed = [form for form in every if leaks(redactor.text(f"<<{form}>>"), FIXED_SECRET, USER)]
    assert not missed, missed


def test_a_log_line_outside_any_result_is_redacted_too() -> None:
    """An agent fault's log line and traceback (text no result holds) go through the same redactor."""
    redaction.register(FIXED_SECRET)
    for fmt in ("text", "json"):
        stream = io.StringIO()
        setup_logging(fmt, "info", stream=stream)
        try:
            raise ValueError(f"the target sent {json.dumps({'pw': FIXED_SECRET})}")
        except ValueError:
            logging.getLogger("journeyprobe.test").exception("failed near %s", FIXED_SECRET)
        stop_logging()
        text = stream.getvalue()
        assert "failed near [REDACTED]" in text and "ValueError" in text
        assert not leaks(text, FIXED_SECRET), text
