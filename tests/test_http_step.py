"""HTTP steps against real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest
import trustme

from agent.probe.result import ErrorType, Outcome
from agent.probe.runner import Runner
from agent.probe.trace_context import parse_traceparent
from tests.conftest import free_port, journey
from tests.targets import Seen, serve, target_app


async def run(j, **runner_args):  # type: ignore[no-untyped-def]
    return await Runner(**runner_args).run(j)


async def test_status_json_headers_pass(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await run(journey([{"name": "get", "http": {"url": f"{url}/json"}, "expect": [
        "status == 200", "json.items[0].sku == \"ABC-1\"", "header.Content-Type contains \"json\"",
        "duration < 5s", "json.token exists", "json.nope not exists"]}]))
    assert result.outcome is Outcome.SUCCESS, result.error
    step = result.steps[0]
    assert step.status == 200
    assert step.phases is not None and step.phases.ttfb_s > 0
    assert step.phases.connect_s > 0


async def test_failed_expectation_shows_expression_expected_and_seen(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await run(journey([
        {"name": "get", "http": {"url": f"{url}/json"}, "expect": ["json.items[0].sku == \"XYZ\""]},
        {"name": "after", "http": {"url": f"{url}/json"}},
    ]))
    assert result.outcome is Outcome.FAILURE
    assert result.error_type == ErrorType.ASSERTION
    assert "json.items[0].sku" in (result.error or "")
    assert '"XYZ"' in (result.error or "") and '"ABC-1"' in (result.error or "")
    assert [s.outcome for s in result.steps] == [Outcome.FAILURE, Outcome.SKIPPED]


async def test_method_query_json_body_and_basic_auth_reach_the_server(target: tuple[str, Seen]) -> None:
    url, seen = target
    result = await run(journey([{"name": "post", "http": {
        "method": "post", "url": f"{url}/echo", "query": {"q": "{{ term }}"}, "json": {"user": "{{ term }}"},
        "headers": {"X-Probe": "yes"}, "basic_auth": {"username": "u", "password": "p"}},
        "expect": ["json.method == \"POST\"", "json.query.q == \"shoes\""]}],
        variables={"term": "shoes"}))
    assert result.passed, result.error
    request = seen.requests[-1]
    assert request["body"] == '{"user": "shoes"}'
    assert request["headers"]["X-Probe"] == "yes"
    assert request["headers"]["Authorization"].startswith("Basic ")


async def test_form_body(target: tuple[str, Seen]) -> None:
    url, seen = target
    result = await run(journey([{"name": "form", "http": {"method": "POST", "url": f"{url}/echo",
                                                           "form": {"a": "1", "b": "two"}}}]))
    assert result.passed
    assert seen.requests[-1]["body"] == "a=1&b=two"


async def test_redirects_followed_and_not(target: tuple[str, Seen]) -> None:
    url, _ = target
    followed = await run(journey([{"name": "r", "http": {"url": f"{url}/redirect/3"},
                                   "expect": ["status == 200", "body == \"arrived\""]}]))
    assert followed.passed, followed.error
    not_followed = await run(journey([{"name": "r", "http": {"url": f"{url}/redirect/3", "follow_redirects": False},
                                       "expect": ["status == 302", "header.location == \"/redirect/2\""]}]))
    assert not_followed.passed, not_followed.error
    too_many = await run(journey([{"name": "r", "http": {"url": f"{url}/redirect/5", "max_redirects": 2}}]))
    assert too_many.outcome is Outcome.ERROR and too_many.error_type == ErrorType.TOO_MANY_REDIRECTS


async def test_cookies_carry_from_step_to_step_but_not_across_runs(target: tuple[str, Seen]) -> None:
    url, _ = target
    both = journey([{"name": "login", "http": {"url": f"{url}/set-cookie"}},
                    {"name": "me", "http": {"url": f"{url}/need-cookie"}, "expect": ["status == 200"]}])
    assert (await run(both)).passed
    alone = journey([{"name": "me", "http": {"url": f"{url}/need-cookie"}, "expect": ["status == 200"]}])
    runner = Runner()
    await runner.run(both)
    assert (await runner.run(alone)).outcome is Outcome.FAILURE


async def test_extract_subject_and_regex_into_variables(target: tuple[str, Seen]) -> None:
    url, seen = target
    result = await run(journey([
        {"name": "token", "http": {"url": f"{url}/json"},
         "extract": {"token": "json.token", "sku": {"from": "body", "regex": "\"sku\": \"([A-Z]+)-"}}},
        {"name": "use", "http": {"url": f"{url}/echo", "headers": {"Authorization": "Bearer {{ token }}"},
                                 "query": {"sku": "{{ sku }}"}}},
    ]))
    assert result.passed, result.error
    assert seen.requests[-1]["headers"]["Authorization"] == "Bearer tok-123"
    assert seen.requests[-1]["query"] == {"sku": "ABC"}


async def test_extract_that_finds_nothing_is_an_error(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await run(journey([{"name": "t", "http": {"url": f"{url}/json"}, "extract": {"x": "json.absent"}}]))
    assert result.outcome is Outcome.ERROR and result.error_type == ErrorType.EXTRACT


SAFETY = 20.0
"""Deadline around runs against servers that answer late or never: far beyond the timeouts under test, so
only a timeout that does not work reaches it (the server takes longer still)."""


async def test_slow_server_hits_step_timeout_then_later_steps_skip(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await asyncio.wait_for(
        run(journey([{"name": "slow", "http": {"url": f"{url}/slow?delay=60", "timeout": "300ms"}},
                     {"name": "next", "http": {"url": f"{url}/json"}}])), SAFETY)
    assert result.outcome is Outcome.TIMEOUT and result.error_type == ErrorType.TIMEOUT
    assert [s.outcome for s in result.steps] == [Outcome.TIMEOUT, Outcome.SKIPPED]
    assert result.steps[0].duration_s >= 0.29  # it waited for its timeout, not less


async def test_hanging_server_bounded_by_run_deadline(target: tuple[str, Seen]) -> None:
    url, _ = target
    started = time.perf_counter()
    result = await asyncio.wait_for(
        run(journey([{"name": "hang", "http": {"url": f"{url}/hang"}}], timeout="500ms", interval="10s")), SAFETY)
    assert time.perf_counter() - started >= 0.45  # the run had its 500 ms; the server never answers
    assert result.outcome is Outcome.TIMEOUT and result.error_type == ErrorType.DEADLINE
    assert "deadline" in (result.error or "")


async def test_connection_refused_is_an_error_with_its_type() -> None:
    port = free_port()
    result = await run(journey([{"name": "x", "http": {"url": f"http://127.0.0.1:{port}/"}}]))
    assert result.outcome is Outcome.ERROR
    assert result.error_type == ErrorType.CONNECTION_REFUSED
    assert str(port) in (result.error or "")


async def test_connection_reset_is_an_error(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await run(journey([{"name": "x", "http": {"url": f"{url}/reset"}}]))
    assert result.outcome is Outcome.ERROR
    assert result.error_type in (ErrorType.CONNECTION_RESET, ErrorType.INVALID_RESPONSE)


async def test_huge_body_is_capped_and_reported(target: tuple[str, Seen]) -> None:
    url, seen = target
    offered = 1600 * 65536  # 100 MiB
    result = await asyncio.wait_for(
        run(journey([{"name": "big", "http": {"url": f"{url}/huge?chunks=1600", "max_body": "256KiB"}}])), SAFETY)
    assert result.outcome is Outcome.ERROR and result.error_type == ErrorType.BODY_TOO_LARGE
    # the client stopped reading at the cap: the server sent what socket buffers hold (a few MiB), not 100 MiB
    assert seen.body_bytes_sent < offered // 4, seen.body_bytes_sent
    small = await run(journey([{"name": "big", "http": {"url": f"{url}/huge?chunks=2", "max_body": "1MiB"}}]))
    assert small.passed


async def test_traceparent_on_every_request_with_the_run_trace_id(target: tuple[str, Seen]) -> None:
    url, seen = target
    result = await run(journey([{"name": "a", "http": {"url": f"{url}/redirect/1"}},
                                {"name": "b", "http": {"url": f"{url}/json"}}]))
    assert result.passed
    contexts = [parse_traceparent(r["headers"]["traceparent"]) for r in seen.requests]
    assert len(contexts) == 3 and all(c is not None for c in contexts)
    assert {c.trace_id for c in contexts if c} == {result.trace_id}
    assert len({c.span_id for c in contexts if c}) == 3
    assert all("journeyprobe" in r["headers"]["User-Agent"] for r in seen.requests)


async def test_traceparent_opt_out(target: tuple[str, Seen]) -> None:
    url, seen = target
    assert (await run(journey([{"name": "a", "http": {"url": f"{url}/json"}}], traceparent=False))).passed
    assert "traceparent" not in seen.requests[-1]["headers"]


@pytest.fixture
def tls_server_context() -> tuple[object, object]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return ca, context


async def test_invalid_tls_fails_by_default_and_opt_out_reads_cert(tls_server_context) -> None:  # type: ignore[no-untyped-def]
    _, context = tls_server_context
    async with serve(target_app(Seen()), ssl_context=context) as url:
        strict = await run(journey([{"name": "tls", "http": {"url": f"{url}/json"}}]))
        assert strict.outcome is Outcome.ERROR and strict.error_type == ErrorType.TLS
        relaxed = await run(journey([{"name": "tls", "http": {"url": f"{url}/json", "verify_tls": False},
                                      "expect": ["cert.expires_in > 30", "status == 200"]}]))
        assert relaxed.passed, relaxed.error
        phases = relaxed.steps[0].phases
        assert phases is not None and phases.tls_s > 0 and phases.connect_s > 0


async def test_template_error_at_run_time_is_an_error_not_a_crash(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await run(journey([{"name": "a", "http": {"url": f"{url}/json?x={{{{ missing }}}}"}}]))
    assert result.outcome is Outcome.ERROR and result.error_type == ErrorType.TEMPLATE
    assert "missing" in (result.error or "")


async def test_missing_env_variable_is_reported(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await Runner(environ={}).run(journey([{"name": "a", "http": {"url": f"{url}/json"}}],
                                                  variables={"user": "{{ env.SHOP_USER }}"}))
    assert result.outcome is Outcome.ERROR and "SHOP_USER" in (result.error or "")


async def test_secret_echoed_by_server_is_redacted(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await Runner(environ={"PW": "hunter2-secret"}).run(journey(
        [{"name": "echo", "http": {"url": f"{url}/echo-body", "method": "POST", "json": {"pw": "{{ password }}"}},
          "expect": ["body contains \"nothing-like-this\""]}],
        variables={"password": "{{ secret.PW }}"}))
    assert result.outcome is Outcome.FAILURE
    text = str(result.to_dict())
    assert "hunter2-secret" not in text
    assert "[REDACTED]" in text


async def test_retry_keeps_first_attempt_visible(target: tuple[str, Seen]) -> None:
    url, _ = target
    result = await run(journey([{"name": "a", "http": {"url": f"{url}/status/503"}, "expect": ["status == 200"]}],
                               retry={"attempts": 3, "delay": "10ms"}))
    assert result.outcome is Outcome.FAILURE and result.attempt == 3
    assert [a.attempt for a in result.earlier_attempts] == [1, 2]
    assert result.to_dict()["first_outcome"] == "failure"


async def test_flaky_journey_passing_on_retry_stays_visible() -> None:
    calls = {"n": 0}
    from aiohttp import web

    async def flaky(request: web.Request) -> web.Response:
        calls["n"] += 1
        return web.Response(status=500 if calls["n"] == 1 else 200)

    app = web.Application()
    app.router.add_get("/", flaky)
    async with serve(app) as url:
        result = await run(journey([{"name": "a", "http": {"url": url + "/"}, "expect": ["status == 200"]}],
                                   retry={"attempts": 2}))
    assert result.passed and result.flaky and result.attempt == 2
    assert result.first_outcome is Outcome.FAILURE
    assert result.earlier_attempts[0].trace_id != result.trace_id


async def test_many_concurrent_runs_do_not_interfere(target: tuple[str, Seen]) -> None:
    url, _ = target
    j = journey([{"name": "login", "http": {"url": f"{url}/set-cookie"}},
                 {"name": "me", "http": {"url": f"{url}/need-cookie"}, "expect": ["status == 200"]}])
    results = await asyncio.gather(*(Runner().run(j) for _ in range(30)))
    assert all(r.passed for r in results)
    assert len({r.trace_id for r in results}) == 30
