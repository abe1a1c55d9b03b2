"""Regexes that cannot freeze the agent: RE2 (linear time), refused features said at load time,
large bodies checked off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import re2
from aiohttp import web

from agent.expect.expression import ExpectationSyntaxError, ResponseView, parse
from agent.expect.regex import RegexError, compile_regex
from agent.probe.http.judge import OFF_LOOP_BYTES, judge
from agent.probe.result import ErrorType, Outcome
from agent.probe.runner import Runner
from tests.conftest import journey
from tests.daemon_helpers import config, http_journey, running_daemon, wait_for
from tests.targets import serve
from tests.test_check_cli import cli

EVIL = "(a+)+$"
EVIL_BODY = "a" * 28 + "!"  # Python's re backtracks for about half a minute on this


def test_the_re2_module_is_re2_not_a_fallback_to_re() -> None:
    options = re2.Options()
    options.log_errors = False
    with pytest.raises(re2.error):
        re2.compile(r"(a)\1", options)  # Python's re takes it: a silent fallback would too


@pytest.mark.parametrize(("pattern", "said"), [
    (r"(a)\1", "backreferences"),
    (r"(?P<x>a)(?P=x)", "backreferences"),
    (r"a(?=b)", "lookahead and lookbehind"),
    (r"a(?!b)", "lookahead and lookbehind"),
    (r"(?<=a)b", "lookahead and lookbehind"),
    (r"(?<!a)b", "lookahead and lookbehind"),
    (r"(?>a)", "atomic groups"),
    (r"a++", "possessive quantifiers"),
    (r"a\Z", "\\Z is written \\z"),
    (r"(a", "missing )"),
    ("a" * 20_000, "at most"),
])
def test_what_re2_lacks_is_named(pattern: str, said: str) -> None:
    with pytest.raises(RegexError) as caught:
        compile_regex(pattern)
    assert said in str(caught.value)
    assert "b'" not in str(caught.value)  # RE2's message arrives as bytes: shown as text


def test_re2_syntax_python_users_expect_still_works() -> None:
    assert compile_regex(r"(?P<id>\d+)-(?i:x)\b").search("order 42-X").group("id") == "42"
    assert compile_regex(r"^é+\s\pL+$").search("éé café") is not None
    assert compile_regex(r"^\w+$").search("café") is None  # \w, \d, \s and \b are ASCII in RE2 (documented)


def test_matches_runs_in_linear_time_on_the_classic_catastrophe() -> None:
    view = ResponseView(status=200, duration_s=0.1, body="a" * 100_000 + "!", headers={})
    assert parse(f'body matches "{EVIL}"').evaluate(view) is not None  # no match, and no 2^100000 steps
    assert parse('body matches "a{3}!$"').evaluate(view) is None


def test_an_expectation_using_a_backreference_is_a_syntax_error_at_its_column() -> None:
    with pytest.raises(ExpectationSyntaxError) as caught:
        parse(r'body matches "(a)\\1"')
    assert "backreferences" in str(caught.value) and caught.value.column == 14  # type: ignore[attr-defined]


async def test_an_evil_regex_against_a_hostile_body_finishes() -> None:
    async def evil(request: web.Request) -> web.Response:
        return web.Response(text=EVIL_BODY)

    app = web.Application()
    app.router.add_get("/evil", evil)
    async with serve(app) as url:
        result = await Runner().run(journey([{"name": "get", "http": {"url": f"{url}/evil"},
                                              "expect": [f'body matches "{EVIL}"'],
                                              "timeout": "5s"}]))
    assert (result.outcome, result.error_type) == (Outcome.FAILURE, ErrorType.ASSERTION), result.error
    assert "matches" in (result.error or "")


class WaitsForTheLoop(Mapping[str, str]):
    """Headers whose reading waits until a coroutine has run on the event loop.

    Read on the loop's own thread they would wait in vain (the loop is busy reading them) and
    fail the check; read in a worker thread they see the coroutine run and go on."""

    def __init__(self, ran: threading.Event) -> None:
        self.ran = ran

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        if not self.ran.wait(timeout=5):
            raise RuntimeError("the event loop did not run while the response was checked")
        return iter(())

    def __len__(self) -> int:
        return 1


async def test_a_large_body_is_checked_while_the_loop_goes_on() -> None:
    ran = threading.Event()
    step = journey([{"name": "big", "http": {"url": "http://127.0.0.1:9/"},
                     "expect": ['body matches "a+$"', "header.X-Nope not exists"]}]).steps[0]
    body = "a" * (OFF_LOOP_BYTES + 1)
    view = ResponseView(status=200, duration_s=0.1, body=body, headers=WaitsForTheLoop(ran))

    async def another_journey() -> None:  # stands for everything else the daemon does meanwhile
        ran.set()

    other = asyncio.create_task(another_journey())
    verdict = await judge(step, view, len(body))
    assert verdict.failures == ()
    assert other.done()


async def test_a_small_body_is_checked_on_the_loop() -> None:  # the other side of the bound: cheap work stays
    step = journey([{"name": "small", "http": {"url": "http://127.0.0.1:9/"}, "expect": ["status == 200"]}]).steps[0]
    caller = threading.get_ident()
    seen: list[int] = []

    class Recording(Mapping[str, str]):
        def __getitem__(self, key: str) -> str:
            raise KeyError(key)

        def __iter__(self) -> Iterator[str]:
            seen.append(threading.get_ident())
            return iter(())

        def __len__(self) -> int:
            return 0

    step = journey([{"name": "small", "http": {"url": "http://127.0.0.1:9/"},
                     "expect": ["header.X-A not exists"]}]).steps[0]
    verdict = await judge(step, ResponseView(200, 0.1, "tiny", Recording()), 4)
    assert verdict.failures == () and seen == [caller]


async def test_an_evil_regex_does_not_hold_up_another_journey_of_the_daemon(tmp_path: Path) -> None:
    async def evil(request: web.Request) -> web.Response:
        return web.Response(text="a" * (OFF_LOOP_BYTES * 4) + "!")

    async def fine(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/evil", evil)
    app.router.add_get("/fine", fine)
    async with serve(app) as url:
        (tmp_path / "evil.yaml").write_text(http_journey("evil", f"{url}/evil", expect=f'body matches "{EVIL}"'))
        (tmp_path / "fine.yaml").write_text(http_journey("fine", f"{url}/fine"))
        async with running_daemon(config(tmp_path), [str(tmp_path / "*.yaml")]) as daemon:
            store = daemon.state.store
            assert store is not None

            async def both_ran_twice() -> bool:
                last = await store.runs("evil", 5), await store.runs("fine", 5)
                return all(len(runs) >= 2 for runs in last)

            await wait_for(both_ran_twice, timeout=15)
            evil_runs, fine_runs = await store.runs("evil", 5), await store.runs("fine", 5)
            assert {r["outcome"] for r in evil_runs} == {"failure"}
            assert {r["outcome"] for r in fine_runs} == {"success"}
            assert daemon.scheduler.skipped_total == 0


@pytest.mark.parametrize(("field", "pattern", "said"), [
    ("expect", r'body matches "(a)\\1"', "backreferences"),
    ("extract", r"id=(?=\d)(\d+)", "lookahead and lookbehind"),
])
async def test_validate_refuses_what_re2_lacks_with_file_and_line(tmp_path: Path, field: str, pattern: str,
                                                                  said: str) -> None:
    if field == "expect":
        step = f"    expect:\n      - '{pattern}'\n"
    else:
        step = f"    extract:\n      order: {{from: body, regex: '{pattern}'}}\n"
    path = tmp_path / "shop.yaml"
    path.write_text(f"name: shop\nsteps:\n  - name: get\n    http: {{url: 'http://127.0.0.1:9/'}}\n{step}")
    code, out, err = await cli("validate", str(path))
    assert code == 2, out
    assert f"{path}:6:" in err and said in err and "RE2" in err, err
