"""`journeyprobe check` end to end, through a subprocess, against a real local server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.targets import Seen, serve, target_app

SECRET = "pa55-w0rd-never-shown"


async def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[tuple[Path, Path, str]]:
    seen = Seen()
    async with serve(target_app(seen)) as url:
        good = tmp_path / "good.yaml"
        good.write_text(f"""
name: good
variables:
  base: "{url}"
  password: "{{{{ secret.SHOP_PW }}}}"
steps:
  - name: login
    http:
      method: POST
      url: "{{{{ base }}}}/echo-body"
      json: {{password: "{{{{ password }}}}"}}
    expect: [status == 200]
  - name: items
    http: {{url: "{{{{ base }}}}/json"}}
    expect: ['json.items[0].sku == "ABC-1"']
""")
        bad = tmp_path / "bad.yaml"
        bad.write_text(f"""
name: bad
variables:
  password: "{{{{ secret.SHOP_PW }}}}"
steps:
  - name: echo secret
    http:
      method: POST
      url: "{url}/echo-body"
      body: "pw={{{{ password }}}}"
    expect: ['body contains "welcome"']
  - name: never
    http: {{url: "{url}/json"}}
""")
        yield good, bad, url


async def test_exit_0_when_all_pass(files: tuple[Path, Path, str]) -> None:
    good, _, _ = files
    code, out, err = await cli("check", str(good), env={"SHOP_PW": SECRET})
    assert code == 0, out + err
    assert "good" in out and "success" in out


async def test_exit_1_with_failing_expectation_and_secret_nowhere(files: tuple[Path, Path, str],
                                                                   tmp_path: Path) -> None:
    good, bad, _ = files
    junit = tmp_path / "junit.xml"
    code, out, err = await cli("check", str(good), str(bad), "--junit", str(junit), env={"SHOP_PW": SECRET})
    assert code == 1
    assert 'expected body contains "welcome"' in out
    assert "[REDACTED]" in out
    code_json, out_json, err_json = await cli("check", str(good), str(bad), "--json", env={"SHOP_PW": SECRET})
    assert code_json == 1
    document = json.loads(out_json)
    by_name = {r["journey"]: r for r in document["journeys"]}
    assert by_name["good"]["outcome"] == "success"
    failed = by_name["bad"]
    assert failed["outcome"] == "failure" and failed["error_type"] == "assertion"
    assert [s["outcome"] for s in failed["steps"]] == ["failure", "skipped"]
    assert len(failed["trace_id"]) == 32
    assert failed["trace_id"] in out_json
    junit_text = junit.read_text()
    for text in (out, err, out_json, err_json, junit_text):
        assert SECRET not in text
    suites = ET.fromstring(junit_text)
    assert suites.tag == "testsuites" and suites.get("tests") == "4"
    bad_suite = next(s for s in suites if s.get("name") == "bad")
    cases = bad_suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["echo secret", "never"]
    assert cases[0].find("failure") is not None and cases[1].find("skipped") is not None
    assert "welcome" in (cases[0].find("failure").get("message") or "")  # type: ignore[union-attr]


async def test_var_override(files: tuple[Path, Path, str]) -> None:
    good, _, _ = files
    code, out, _ = await cli("check", str(good), "--var", "base=http://127.0.0.1:1", "--json",
                             env={"SHOP_PW": SECRET})
    assert code == 1
    assert json.loads(out)["journeys"][0]["error_type"] == "connection_refused"


async def test_exit_2_on_bad_input_and_nothing_runs(tmp_path: Path) -> None:
    seen = Seen()
    async with serve(target_app(seen)) as url:
        ok = tmp_path / "ok.yaml"
        ok.write_text(f"name: ok\nsteps:\n  - name: a\n    http: {{url: '{url}/json'}}\n")
        broken = tmp_path / "broken.yaml"
        broken.write_text("name: broken\nretries: 3\nsteps:\n  - name: a\n    http: {url: x}\n"
                          "    expect: [status = 2]\n")
        code, _, err = await cli("check", str(ok), str(broken))
    assert code == 2
    assert f"{broken}:2: unknown key 'retries'" in err
    assert f"{broken}:6:" in err
    assert seen.requests == []  # nothing ran, not even the good journey


async def test_bad_var_is_exit_2(files: tuple[Path, Path, str]) -> None:
    good, _, _ = files
    code, _, err = await cli("check", str(good), "--var", "novalue")
    assert code == 2 and "--var" in err


async def test_validate_and_schema(files: tuple[Path, Path, str]) -> None:
    good, bad, _ = files
    code, out, _ = await cli("validate", str(good), str(bad))
    assert code == 0 and "2 journeys OK" in out
    code, out, _ = await cli("schema")
    assert code == 0 and json.loads(out)["title"]
