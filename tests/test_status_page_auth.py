"""The status page behind `server.token`, and the artifacts it serves."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.test_status_page import build_store, fetch, pin_clock, serving


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> float:
    return pin_clock(monkeypatch)


async def test_artifacts_are_served_only_from_the_artifacts_folder(tmp_path: Path, now: float) -> None:
    js = await build_store(tmp_path / "store.db", now, tmp_path / "artifacts")
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "artifacts" / "checkout" / "trace.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (tmp_path / "artifacts" / "escape").symlink_to(tmp_path / "secret.txt")
    async with serving(tmp_path, now, js) as (base, _):
        ok, _, zipped = await fetch(base + "/artifacts/checkout/trace.zip")
        assert ok == 200 and zipped.headers["Content-Disposition"].startswith("attachment")
        assert zipped.headers["X-Content-Type-Options"] == "nosniff"
        for path in ("/artifacts/../secret.txt", "/artifacts/%2e%2e/secret.txt", "/artifacts/..%2fsecret.txt",
                     "/artifacts/checkout/..%2f..%2fsecret.txt", f"/artifacts/{tmp_path}/secret.txt",
                     f"/artifacts//{tmp_path}/secret.txt", "/artifacts/escape", "/artifacts/checkout",
                     "/artifacts/nothing.png", "/artifacts/%00"):
            status, body, _ = await fetch(base + path)
            assert status == 404 and "top secret" not in body, path


async def test_token_login_form_and_cookie(tmp_path: Path, now: float) -> None:
    js = await build_store(tmp_path / "store.db", now, tmp_path / "artifacts")
    token = "s3cret-token"
    jar = aiohttp.CookieJar(unsafe=True)
    async with serving(tmp_path, now, js, token=token) as (base, _), \
            aiohttp.ClientSession(cookie_jar=jar) as s:
        status, page, _ = await fetch(base + "/", session=s)
        assert status == 401
        assert '<form class="login" method="post" action="/login">' in page and 'name="token"' in page
        assert "Head of Payments" not in page and token not in page
        for path in ("/journeys/checkout", "/artifacts/checkout/x.png"):
            status, page, _ = await fetch(base + path, session=s)
            assert status == 401 and 'action="/login"' in page, path
        assert (await fetch(base + "/api/v1/slos", session=s))[0] == 401  # the API answers JSON, no form
        async with s.post(base + "/login", data={"token": "wrong"}, allow_redirects=False) as wrong:
            assert wrong.status == 401 and "not accepted" in await wrong.text()
            assert "Set-Cookie" not in wrong.headers
        async with s.post(base + "/login", data={"token": token}, allow_redirects=False) as right:
            assert right.status == 303 and right.headers["Location"] == "/"
            cookie = right.headers["Set-Cookie"]
        assert "journeyprobe_token=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        status, page, _ = await fetch(base + "/", session=s)
        assert status == 200 and "Head of Payments" in page and 'action="/logout"' in page
        assert token not in page
        assert (await fetch(base + "/journeys/checkout", session=s))[0] == 200
        async with s.post(base + "/logout", allow_redirects=False) as out:
            assert out.status == 303
        assert (await fetch(base + "/", session=s))[0] == 401
        s.cookie_jar.update_cookies({"journeyprobe_token": "wrong"})
        status, page, _ = await fetch(base + "/", session=s)  # a wrong cookie: the form, marked as failed
        assert status == 401 and "not accepted" in page


async def test_readyz_answers_probes_without_the_token_and_tells_them_nothing_more(tmp_path: Path,
                                                                                   now: float) -> None:
    js = await build_store(tmp_path / "store.db", now, tmp_path / "artifacts")
    token = "s3cret-token"
    async with serving(tmp_path, now, js, token=token) as (base, state):
        state.reload_errors = ["checkout.yaml:3: secret internal detail"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "journeyprobe_token=wrong"}):
            status, body, response = await fetch(base + "/readyz", headers=headers)
            assert (status, json.loads(body)) == (200, {"ready": True}), headers
            assert response.content_type == "application/json"
        status, body, _ = await fetch(base + "/readyz", headers={"Authorization": f"Bearer {token}"})
        full = json.loads(body)
        assert status == 200 and full["ready"] is True and full["journeys"] == len(js)
        assert full["reload_errors"] == ["checkout.yaml:3: secret internal detail"]
        state.journeys_loaded = False  # not ready: the status code says so to anyone, the reasons only with the token
        status, body, _ = await fetch(base + "/readyz")
        assert (status, json.loads(body)) == (503, {"ready": False})
        status, body, _ = await fetch(base + "/readyz", headers={"Authorization": f"Bearer {token}"})
        assert status == 503 and json.loads(body)["reasons"] == ["journeys are not loaded yet"]
        assert (await fetch(base + "/api/v1/slos"))[0] == 401  # the rest stays guarded
