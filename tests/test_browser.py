"""Browser steps in a real headless Chromium against local pages: flows, failures, vitals, traceparent."""

from __future__ import annotations

import asyncio
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from agent.probe.result import ErrorType, Outcome
from tests.conftest import journey
from tests.targets import Seen, serve
from tests.test_browser_pages import browser_runner, checkout_journey, shop_app

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Chromium")
LIMIT = 45  # seconds any one test may take
CARD = "4242 4242 4242 4242"  # SHOP_CARD (test_browser_pages); spaced, so no timestamp or hex id can hold it


def assert_no_card(text: str) -> None:
    """Neither the card nor a piece of it long enough that no timestamp or hex trace id holds it by chance."""
    for form in (CARD, "4242 4242", "42424242"):
        assert form not in text


async def test_form_flow_passes_with_templated_values(tmp_path: Path) -> None:
    seen = Seen()
    async with asyncio.timeout(LIMIT), serve(shop_app(seen)) as base, browser_runner(tmp_path) as runner:
        flow = journey([{"name": "pay", "browser": [
            {"goto": "{{ base }}/checkout"},
            {"fill": {"selector": "#name", "value": "{{ user }}"}},
            {"fill": {"selector": "#card", "value": "{{ card }}"}},
            {"select": {"selector": "#country", "value": "JP"}},
            {"click": "#pay"},
            {"expect_text": "Thank you, Ada!"},
            {"expect_visible": "#country"},
            {"expect_text": {"text": "Shipping to JP", "selector": "#country"}},
            {"expect_url": "{{ base }}/thanks?name=Ada&country=JP"},
        ]}], variables={"base": base, "user": "Ada", "card": "{{ secret.SHOP_CARD }}"})
        result = await runner.run(flow)
    assert result.outcome is Outcome.SUCCESS, result.error
    step = result.steps[0]
    assert step.kind == "browser" and step.status == 200
    assert [a["action"] for a in step.actions] == ["goto", "fill", "fill", "select", "click", "expect_text",
                                                   "expect_visible", "expect_text", "expect_url"]
    assert all(a["outcome"] == "success" and a["duration_s"] >= 0 for a in step.actions)
    assert step.actions[0]["target"] == f"{base}/checkout"
    assert step.actions[2] == {"action": "fill", "target": "#card", "outcome": "success",
                               "duration_s": step.actions[2]["duration_s"]}  # the selector, never the value
    assert_no_card(repr(result.to_dict()))
    assert not step.artifacts  # nothing kept from a run that passed
    assert 0 < step.duration_s < result.duration_s


async def test_wrong_text_fails_with_screenshot_and_trace(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        result = await runner.run(checkout_journey(base, card="1111 1111 1111 1111"))
    step = result.steps[0]
    assert step.outcome is Outcome.FAILURE and step.error_type == ErrorType.ASSERTION
    assert step.error is not None
    assert step.error.startswith(
        f'expect_text "Thank you": not found on {base}/pay; the page shows: "Payment')
    assert len(step.error) < 400
    assert [a["outcome"] for a in step.actions][-2:] == ["failure", "skipped"]
    shot, trace = (Path(p) for p in step.artifacts)
    assert shot.name == "pay-failure.png" and shot.read_bytes().startswith(b"\x89PNG")
    assert trace.name == "pay-trace.zip" and zipfile.is_zipfile(trace)
    assert shot.parent.parent == tmp_path / "artifacts" / "test"
    assert shot.parent.name.endswith(result.trace_id)


async def test_secret_fields_are_masked_and_their_trace_dropped(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        flow = journey([{"name": "pay", "browser": [
            {"goto": f"{base}/checkout"},
            {"fill": {"selector": "#card", "value": "{{ secret.SHOP_CARD }}"}},
            {"screenshot": "typed"},
            {"expect_text": {"text": "Not on this page", "timeout": "500ms"}},
        ]}])
        result = await runner.run(flow)
    step = result.steps[0]
    assert step.outcome is Outcome.FAILURE
    names = [Path(p).name for p in step.artifacts]
    assert names == ["pay-typed.png", "pay-failure.png"]  # no trace archive: it would hold the card
    for path in step.artifacts:
        assert _magenta_pixels(Path(path)) > 500  # the card field is covered by Playwright's mask
    assert_no_card(repr(result.to_dict()))


async def test_page_that_never_loads_times_out(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        warm = await runner.run(journey([{"name": "warm", "browser": [{"goto": f"{base}/"}]}]))
        assert warm.passed, warm.error  # the browser is up: the step's 3 s are the page's, not the launch's
        flow = journey([{"name": "open", "timeout": "3s", "browser": [{"goto": f"{base}/never-loads"},
                                                                     {"click": "h1"}]}])
        result = await runner.run(flow)
    step = result.steps[0]
    assert step.outcome is Outcome.TIMEOUT and step.error_type == ErrorType.TIMEOUT
    assert step.error is not None and step.error.startswith(f'goto "{base}/never-loads": timed out after')
    assert 'waiting for "load"' in step.error
    assert [a["outcome"] for a in step.actions] == ["timeout", "skipped"]
    assert any(p.endswith("open-failure.png") for p in step.artifacts)


async def test_action_timeout_and_missing_element(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        missing = {"click": {"selector": "#missing", "timeout": "700ms"}}
        flow = journey([{"name": "buy", "browser": [{"goto": f"{base}/checkout"}, missing]}])
        result = await runner.run(flow)
    step = result.steps[0]
    assert step.outcome is Outcome.TIMEOUT and step.error_type == ErrorType.TIMEOUT
    assert step.error is not None
    assert step.error.startswith('click "#missing": timed out after 0.7s on ')
    assert 'the page shows: "Checkout' in step.error


async def test_javascript_errors_are_recorded_with_the_action(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        result = await runner.run(journey([{"name": "open", "browser": [{"goto": f"{base}/js-error"},
                                                                        {"expect_text": "Broken page"}]}]))
    assert result.passed, result.error  # errors on the page are recorded, not judged
    errors = [e for a in result.steps[0].actions for e in a.get("page_errors", ())]
    assert "console.error: boom from console" in errors
    assert any(e.startswith("pageerror: ReferenceError: undefinedFunction is not defined") for e in errors)


async def test_web_vitals_are_plausible(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        result = await runner.run(journey([{"name": "open", "browser": [
            {"goto": f"{base}/vitals"}, {"expect_text": "shift seen"}, {"goto": f"{base}/checkout"}]}]))
    assert result.passed, result.error
    vitals = result.steps[0].vitals
    assert [v["url"] for v in vitals] == [f"{base}/vitals", f"{base}/checkout"]
    for v in vitals:
        assert set(v) == {"url", "ttfb_s", "fcp_s", "lcp_s", "cls", "dom_content_loaded_s", "load_s"}
        assert 0 < v["ttfb_s"] <= v["fcp_s"] < 5
        assert v["fcp_s"] <= v["lcp_s"] < 5
        assert 0 < v["dom_content_loaded_s"] <= v["load_s"] < 5
        assert 0 <= v["cls"] < 1
    assert vitals[0]["cls"] > 0  # the banner pushed the heading down


async def test_vitals_read_right_after_goto_include_the_first_paint(tmp_path: Path) -> None:
    """Headless Chromium paints tens of ms after `load`: a step that only loads a page still gets FCP and LCP.

    /late-paint makes that certain: it has nothing to paint until 250 ms after its `load` event."""
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        late = await runner.run(journey([{"name": "open", "browser": [{"goto": f"{base}/late-paint"}]}]))
        blank = await runner.run(journey([{"name": "open", "browser": [{"goto": f"{base}/blank"}]}]))
    assert late.passed, late.error
    [vital] = late.steps[0].vitals
    assert vital["fcp_s"] is not None and vital["lcp_s"] is not None, vital
    assert 0 < vital["load_s"] < vital["fcp_s"] <= vital["lcp_s"]
    assert blank.passed, blank.error  # a page with nothing to paint: read as it is after a bounded wait
    [vital] = blank.steps[0].vitals
    assert (vital["fcp_s"], vital["lcp_s"]) == (None, None) and vital["load_s"] is not None


async def test_traceparent_only_to_the_journeys_own_origin(tmp_path: Path) -> None:
    first, third = Seen(), Seen()
    async with asyncio.timeout(LIMIT), serve(shop_app(third)) as other, \
            serve(shop_app(first, third_party=other)) as base, browser_runner(tmp_path) as runner:
        result = await runner.run(journey([{"name": "home", "browser": [{"goto": f"{base}/home"},
                                                                        {"expect_text": "Home"}]}]))
    assert result.passed, result.error
    own = [r for r in first.requests if r["path"] in ("/home", "/logo.gif")]
    assert len(own) == 2, [(r["path"], r["headers"].get("traceparent")) for r in own]
    parents = [r["headers"].get("traceparent", "") for r in own]
    assert all(p.startswith(f"00-{result.trace_id}-") and p.endswith("-01") for p in parents)
    assert len({p.split("-")[2] for p in parents}) == 2  # a fresh span id per request
    assert all(r["headers"].get("tracestate") == "journeyprobe=synthetic" for r in own)
    assert [r["path"] for r in third.requests] == ["/pixel.gif"]
    assert "traceparent" not in {k.lower() for k in third.requests[0]["headers"]}


async def test_two_browser_steps_share_the_page_and_a_bad_template_is_an_error(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        result = await runner.run(journey([
            {"name": "open", "browser": [{"goto": f"{base}/checkout"}]},
            {"name": "type", "browser": [{"fill": {"selector": "#name", "value": "Bo"}},
                                         {"goto": "{{ nowhere }}/x"}]}]))
    second = result.steps[1]
    assert second.actions[0]["outcome"] == "success"  # the page of the first step is still there
    assert second.outcome is Outcome.ERROR and second.error_type == ErrorType.TEMPLATE
    assert "nowhere" in (second.error or "")


async def test_press_wait_for_and_screenshot_actions(tmp_path: Path) -> None:
    async with asyncio.timeout(LIMIT), serve(shop_app(Seen())) as base, browser_runner(tmp_path) as runner:
        result = await runner.run(journey([{"name": "keys", "browser": [
            {"goto": {"url": f"{base}/checkout", "wait_until": "domcontentloaded"}},
            {"fill": {"selector": "#card", "value": "1"}},
            {"press": {"key": "Enter", "selector": "#card"}},
            {"wait_for": {"selector": "#pay", "state": "detached"}},
            {"expect_visible": "h1"},
            {"press": "Tab"},
            {"screenshot": {"name": "declined page", "full_page": True}},
        ]}]))
    assert result.passed, result.error
    step = result.steps[0]
    assert [Path(p).name for p in step.artifacts] == ["keys-declined-page.png"]
    assert _is_png(step.artifacts[0])
    assert step.actions[3] == {"action": "wait_for", "target": "#pay", "state": "detached",
                               "outcome": "success", "duration_s": step.actions[3]["duration_s"]}


async def test_connection_refused_is_classified(tmp_path: Path) -> None:
    from tests.conftest import free_port

    async with asyncio.timeout(LIMIT), browser_runner(tmp_path) as runner:
        result = await runner.run(journey([{"name": "open", "browser": [
            {"goto": f"http://127.0.0.1:{free_port()}/"}]}]))
    step = result.steps[0]
    assert step.outcome is Outcome.ERROR and step.error_type == ErrorType.CONNECTION_REFUSED
    assert "ERR_CONNECTION_REFUSED" in (step.error or "") and not step.agent_side


def _is_png(path: str) -> bool:
    return Path(path).read_bytes().startswith(b"\x89PNG")


def _magenta_pixels(path: Path) -> int:
    """Pixels of Playwright's mask colour (#FF00FF) in an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    pos, chunks, idat = 8, {}, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous, count, offset = bytearray(stride), 0, 0
    for _ in range(height):
        kind, line = raw[offset], bytearray(raw[offset + 1:offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        count += sum(1 for i in range(0, stride, bpp) if (line[i], line[i + 1], line[i + 2]) == (255, 0, 255))
        previous = line
    return count
