"""`check` as users of k6, Playwright and Checkly expect it: selection, env files, clean bad input,
CI annotations, JUnit wall time, the agent's config. Through a subprocess, against real local servers."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.targets import Seen, serve, target_app
from tests.test_check_cli import cli


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def http_journey(folder: Path, name: str, url: str, *, labels: str = "{}", extra: str = "") -> Path:
    return write(folder / f"{name}.yaml", f"name: {name}\nlabels: {labels}\n{extra}steps:\n"
                                          f"  - name: get\n    http: {{url: '{url}/json'}}\n"
                                          f"    expect: [status == 200]\n")


@pytest.fixture
async def site() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    async with serve(target_app(seen)) as url:
        yield url, seen


def ran(out: str) -> list[str]:
    return sorted(r["journey"] for r in json.loads(out)["journeys"])


async def test_grep_and_label_select_journeys(tmp_path: Path, site: tuple[str, Seen]) -> None:
    url, _ = site
    http_journey(tmp_path, "cart-api", url, labels="{team: shop, tier: gold}")
    http_journey(tmp_path, "cart-browser", url, labels="{team: web}")
    http_journey(tmp_path, "login", url, labels="{team: shop}")
    code, out, err = await cli("check", str(tmp_path), "--json", "--grep", "^cart")
    assert code == 0, err
    assert ran(out) == ["cart-api", "cart-browser"]
    code, out, _ = await cli("check", str(tmp_path), "--json", "--label", "team=shop")
    assert ran(out) == ["cart-api", "login"]
    code, out, _ = await cli("check", str(tmp_path), "--json", "-g", "cart", "--label", "team=shop",
                             "--label", "tier=gold")
    assert ran(out) == ["cart-api"]


@pytest.mark.parametrize(("args", "message"), [
    (["--grep", "checkout"], "no journey matches --grep 'checkout' (of 1: login)"),
    (["--label", "team=nobody"], "no journey matches --label team=nobody (of 1: login)"),
    (["--grep", "("], "--grep '(': not a regular expression"),
    (["--label", "team"], "--label 'team': use NAME=VALUE"),
])
async def test_a_selection_that_selects_nothing_is_bad_input(tmp_path: Path, site: tuple[str, Seen],
                                                             args: list[str], message: str) -> None:
    url, seen = site
    http_journey(tmp_path, "login", url)
    code, out, err = await cli("check", str(tmp_path), *args)
    assert code == 2 and out == ""
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
    assert seen.requests == []


async def test_env_file_feeds_variables_and_secrets_and_the_environment_wins(tmp_path: Path,
                                                                             site: tuple[str, Seen]) -> None:
    url, seen = site
    journey = write(tmp_path / "j.yaml", "name: login\nsteps:\n  - name: post\n    http:\n      method: POST\n"
                    "      url: '{{ env.BASE }}/echo'\n"
                    "      json: {password: '{{ secret.PW }}', who: '{{ env.WHO }}'}\n"
                    "    expect: [status == 200]\n")
    env_file = write(tmp_path / ".env", f"# test account\nBASE={url}\nexport PW='s3cret from file'\nWHO=file\n")
    code, out, err = await cli("check", str(journey), "--env-file", str(env_file), "--json", env={"WHO": "shell"})
    assert code == 0, out + err
    body = json.loads(seen.requests[-1]["body"])
    assert body == {"password": "s3cret from file", "who": "shell"}  # the process environment wins
    assert "s3cret from file" not in out + err


@pytest.mark.parametrize(("content", "message"), [
    (None, "{file}: no such file (--env-file)"),
    ("BASE=http://x\nthis is not a line\n", "{file}:2: not a NAME=value line: 'this is not a line'"),
])
async def test_a_bad_env_file_is_bad_input(tmp_path: Path, site: tuple[str, Seen], content: str | None,
                                           message: str) -> None:
    url, seen = site
    journey = http_journey(tmp_path, "j", url)
    env_file = tmp_path / "vars.env"
    if content is not None:
        env_file.write_text(content)
    code, out, err = await cli("check", str(journey), "--env-file", str(env_file))
    assert (code, out, err.strip()) == (2, "", message.format(file=env_file))
    assert seen.requests == []


async def test_a_missing_environment_variable_is_bad_input_not_a_target_failure(
        tmp_path: Path, site: tuple[str, Seen]) -> None:
    url, seen = site
    good = http_journey(tmp_path, "good", url)
    needy = write(tmp_path / "needy.yaml", "name: needy\nretry: {attempts: 3}\nvariables:\n"
                  "  base: \"{{ env.NEEDY_BASE }}\"\nsteps:\n  - name: get\n    http: {url: '{{ base }}/json'}\n")
    code, out, err = await cli("check", str(good), str(needy))
    assert code == 2 and out == ""
    assert err.strip() == (f"{needy}:4: journey 'needy' reads env.NEEDY_BASE, but NEEDY_BASE is not set "
                           "(export it, put it in an --env-file, or give a default: | default('...'))")
    assert seen.requests == []  # nothing ran, not even the good journey, and nothing was retried
    code, _, _ = await cli("check", str(good), str(needy), "--json", env={"NEEDY_BASE": url})
    assert code == 0


async def test_an_unwritable_output_path_is_bad_input_before_anything_runs(tmp_path: Path,
                                                                           site: tuple[str, Seen]) -> None:
    url, seen = site
    journey = http_journey(tmp_path, "j", url)
    code, out, err = await cli("check", str(journey), "--junit", "/no/dir/x.xml")
    assert (code, out) == (2, "")
    assert err == "--junit /no/dir/x.xml: cannot write there: the folder /no/dir does not exist\n"
    code, _, err = await cli("check", str(journey), "--junit", str(tmp_path))
    assert code == 2 and err == f"--junit {tmp_path}: cannot write there: that is a folder; give a file name\n"
    assert seen.requests == []


def pair_app(seen: Seen) -> web.Application:
    """Each request waits for the other, then both answer after 300 ms: proof that they ran side by side."""
    arrived = asyncio.Event()
    count = 0

    async def pair(request: web.Request) -> web.Response:
        nonlocal count
        seen.requests.append({"path": request.path})
        count += 1
        if count == 2:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), 10)
        await asyncio.sleep(0.3)  # the target's answer time
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/json", pair)
    return app


async def test_junit_time_is_the_wall_time_of_the_check(tmp_path: Path) -> None:
    seen = Seen()
    async with serve(pair_app(seen)) as url:
        http_journey(tmp_path / "j", "one", url)
        http_journey(tmp_path / "j", "two", url)
        junit = tmp_path / "junit.xml"
        code, out, err = await cli("check", str(tmp_path / "j"), "--junit", str(junit), "--no-progress")
    assert code == 0, out + err
    suites = ET.fromstring(junit.read_text())
    each = [float(s.get("time") or 0) for s in suites.findall("testsuite")]
    total = float(suites.get("time") or 0)
    assert min(each) >= 0.3 and max(each) <= total
    assert total < 0.8 * sum(each), (total, each)  # not their sum: they ran concurrently


async def test_github_annotations_point_at_the_failing_line(tmp_path: Path, site: tuple[str, Seen]) -> None:
    url, _ = site
    write(tmp_path / "journeys/cart.yaml", f"""name: cart
steps:
  - name: items
    http: {{url: '{url}/json'}}
    expect:
      - status == 200
      - json.items[0].sku == "XYZ-9"
""")
    http_journey(tmp_path / "journeys", "fine", url)
    code, out, _ = await cli("check", "journeys", "--github", cwd=tmp_path)
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("::")]
    assert len(errors) == 1
    assert errors[0].startswith("::error file=journeys/cart.yaml,line=7,title=journey cart%3A failure (assertion)::"
                                'items: expected json.items[0].sku == "XYZ-9", saw "ABC-1" (trace ')
    code, out, _ = await cli("check", "journeys", cwd=tmp_path, env={"GITHUB_ACTIONS": "true",
                                                                     "GITHUB_WORKSPACE": str(tmp_path)})
    auto = [line for line in out.splitlines() if line.startswith("::")]
    assert len(auto) == 1 and auto[0].startswith("::error file=journeys/cart.yaml,line=7,")
    code, out, _ = await cli("check", "journeys", "--no-github", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert "::error" not in out


async def test_check_reads_the_agent_config_and_its_environment_overrides(tmp_path: Path,
                                                                          site: tuple[str, Seen]) -> None:
    url, _ = site
    conf = tmp_path / "conf"
    http_journey(conf / "journeys", "api", url)
    write(conf / "journeys/page.yaml", f"name: page\nsteps:\n  - name: open\n    browser:\n"
                                       f"      - goto: '{url}/html'\n")
    write(conf / "agent.yaml", "location: lab-1\njourneys: [journeys/*.yaml]\n"
                               "browser: {executable_path: /usr/bin/chromium, launch_timeout: 20s}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = await cli("check", "--config", str(conf / "agent.yaml"), "--json", cwd=elsewhere)
    assert code == 0, out + err
    results = {r["journey"]: r for r in json.loads(out)["journeys"]}
    assert sorted(results) == ["api", "page"]  # journeys: resolved from the config's folder
    assert {r["location"] for r in results.values()} == {"lab-1"}
    code, out, _ = await cli("check", "--config", str(conf / "agent.yaml"), "--json", "--grep", "page", cwd=elsewhere,
                             env={"JOURNEYPROBE_BROWSER_EXECUTABLE_PATH": "/no/such/chromium",
                                  "JOURNEYPROBE_LOCATION": "lab-2"})
    page = json.loads(out)["journeys"][0]
    assert code == 1 and page["location"] == "lab-2"
    assert page["error_type"] == "agent" and "/no/such/chromium" in page["steps"][0]["error"]
    code, _, err = await cli("check", "--config", str(conf / "agent.yaml"), cwd=elsewhere,
                             env={"JOURNEYPROBE_CONCURRENCY": "lots"})
    assert code == 2 and err.strip() == "JOURNEYPROBE_CONCURRENCY: concurrency: expected a whole number, got 'lots'"
