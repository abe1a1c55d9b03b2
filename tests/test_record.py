"""`journeyprobe record`: a flow clicked through in headless Chromium (driven here with Playwright over the
recorder's DevTools port) comes out as a journey that validates and runs green, without the password."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from playwright.async_api import async_playwright

from agent.cli.record_journey import Recording, journey_name
from agent.demo.shop import DEFAULT_PASSWORD, start_shop
from tests.conftest import free_port
from tests.test_check_cli import cli

READY = "close the window (or press Ctrl-C) to stop"


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    runner, url = await start_shop("127.0.0.1", 0)
    try:
        yield url
    finally:
        await runner.cleanup()


async def start_recorder(*args: str, cwd: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "agent", "record", *args, cwd=cwd, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    said = b""
    while READY.encode() not in said:  # the recorder says when the page is open
        line = await asyncio.wait_for(process.stderr.readline(), 60)
        assert line, f"the recorder ended early: {said.decode()}"
        said += line
    return process


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_record_a_login_then_validate_and_check_it(tmp_path: Path, shop: str) -> None:
    code, _, _ = await cli("init", cwd=tmp_path)  # the README's path: init, record, check
    assert code == 0
    port = free_port()
    recorder = await start_recorder(f"{shop}/login", "-o", "journeys/login.yaml", "--headless",
                                    "--devtools-port", str(port), cwd=tmp_path)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
            page = next(p for c in browser.contexts for p in c.pages if "/login" in p.url)
            await page.get_by_label("User name").fill("demo")
            await page.get_by_label("Password").fill(DEFAULT_PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url("**/account")
            await page.click("#welcome", modifiers=["Alt"])  # Alt+click records a check of its text
            await page.close()  # closing the page stops the recording
            await browser.close()
        code, out, err = await finish(recorder)
    finally:
        if recorder.returncode is None:
            recorder.kill()
            await recorder.wait()
    assert code == 0, err
    assert "wrote journeys/login.yaml" in err and "PASSWORD=..." in err
    text = (tmp_path / "journeys/login.yaml").read_text()
    assert DEFAULT_PASSWORD not in text + out + err
    assert text.startswith("# yaml-language-server: $schema=../journey.schema.json\n")
    journey = yaml.safe_load(text)
    assert journey["name"] == "login"
    assert journey["variables"] == {"base": f"{{{{ env.BASE_URL | default('{shop}') }}}}",
                                    "password": "{{ secret.PASSWORD }}"}
    assert journey["steps"] == [{"name": "on /login", "browser": [
        {"goto": "{{ base }}/login"},
        {"fill": {"selector": 'role=textbox[name="User name"]', "value": "demo"}},
        {"fill": {"selector": "#password", "value": "{{ password }}"}},
        {"click": 'role=button[name="Sign in"]'},
        {"expect_text": {"text": "Signed in as demo.", "selector": "#welcome"}},
    ]}]
    code, out, err = await cli("validate", "journeys/login.yaml", cwd=tmp_path)
    assert code == 0, err
    code, out, err = await cli("check", "journeys/login.yaml", cwd=tmp_path, env={"PASSWORD": DEFAULT_PASSWORD})
    assert code == 0, out + err
    assert DEFAULT_PASSWORD not in out + err
    code, out, _ = await cli("check", "journeys/login.yaml", cwd=tmp_path, env={"PASSWORD": "wrong"})
    assert code == 1 and "Signed in as demo." in out  # the check fails when the password is wrong
    code, _, err = await cli("check", "journeys/login.yaml", cwd=tmp_path)
    assert code == 2 and "PASSWORD is not set" in err


async def test_ctrl_c_stops_the_recording_and_prints_the_journey(tmp_path: Path, shop: str) -> None:
    recorder = await start_recorder(f"{shop}/checkout", "--headless", cwd=tmp_path)
    recorder.send_signal(signal.SIGINT)
    code, out, err = await finish(recorder)
    assert code == 0, err
    journey = yaml.safe_load(out)
    assert journey["name"] == "checkout"
    assert journey["steps"][0]["browser"] == [{"goto": "{{ base }}/checkout"}, {"expect_url": "/checkout"}]
    assert "no check was recorded" in err


async def test_bad_input_is_exit_2(tmp_path: Path) -> None:
    env = {"DISPLAY": ""}
    code, _, err = await cli("record", "http://127.0.0.1:1/", env=env, cwd=tmp_path)
    assert code == 2 and err.startswith("no display to show the browser on (DISPLAY is not set)")
    code, _, err = await cli("record", "example.com", cwd=tmp_path)
    assert code == 2 and err == "'example.com': give the http:// or https:// address of the page to start on\n"
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    code, _, err = await cli("record", "http://127.0.0.1:1/", "-o", "mine.yaml", "--headless", cwd=tmp_path)
    assert code == 2 and err == "mine.yaml already exists: record never replaces a file unless --force is given\n"
    code, _, err = await cli("record", "http://127.0.0.1:1/", "-o", "/no/dir/x.yaml", "--headless", cwd=tmp_path)
    assert code == 2 and err == "-o /no/dir/x.yaml: cannot write there: the folder /no/dir does not exist\n"


def test_navigations_typed_or_followed() -> None:
    now = [0.0]
    recording = Recording("https://shop.example/", clock=lambda: now[0])
    recording.opened("https://shop.example/")
    recording.navigated("https://shop.example/home")  # the start page redirected: no goto
    now[0] = 10.0
    recording.page_event({"kind": "click", "selectors": ['role=link[name="Cart"]']})
    now[0] = 10.5
    recording.navigation_requested()
    now[0] = 15.0  # a slow page: the navigation started right after the click
    recording.navigated("https://shop.example/cart")
    now[0] = 30.0
    recording.navigation_requested()  # no action before it: an address typed
    recording.navigated("https://other.example/help?q=1")
    recording.page_event({"kind": "fill", "selectors": ["#pin"], "secret": "one-time-code"})
    recording.page_event({"kind": "fill", "selectors": ["#pw"], "secret": "password"})
    recording.page_event({"kind": "fill", "selectors": ["#pw2"], "secret": "password"})
    journey = recording.journey("x")
    assert [s["name"] for s in journey["steps"]] == ["on /", "on /help"]
    assert journey["steps"][1]["browser"][0] == {"goto": "https://other.example/help?q=1"}
    assert journey["variables"] == {"base": "{{ env.BASE_URL | default('https://shop.example') }}",
                                    "one_time_code": "{{ secret.ONE_TIME_CODE }}",
                                    "password": "{{ secret.PASSWORD }}"}
    assert journey_name(None, "https://shop.example/account/Sign-In") == "sign-in"
    assert journey_name("flows/My Flow.yaml", "https://x/") == "my-flow"
