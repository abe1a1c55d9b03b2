"""`journeyprobe init`: a starter project that validates, runs green (HTTP and browser) and never overwrites."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from aiohttp import web

from tests.targets import serve
from tests.test_check_cli import cli

STARTER = ["agent.yaml", "journey.schema.json", "journeys/homepage-browser.yaml", "journeys/homepage.yaml"]


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def home(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Home</title><h1>Welcome</h1>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", home)
    async with serve(app) as url:
        yield url


async def test_init_writes_a_project_that_runs_green(tmp_path: Path, site: str) -> None:
    code, out, err = await cli("init", "probe", "--url", site, cwd=tmp_path)
    assert code == 0, err
    project = tmp_path / "probe"
    assert files(project) == STARTER
    assert "Next steps:" in out and "cd probe" in out and "journeyprobe record URL" in out
    code, out, err = await cli("validate", "journeys", cwd=project)
    assert (code, out.strip(), err) == (0, "2 journeys OK", "")
    code, out, err = await cli("check", "--config", "agent.yaml", "--json", cwd=project)
    assert code == 0, out + err
    assert sorted(r["journey"] for r in json.loads(out)["journeys"]) == ["homepage", "homepage-browser"]


async def test_the_schema_line_names_the_schema_written_beside_it(tmp_path: Path) -> None:
    code, _, _ = await cli("init", cwd=tmp_path)
    assert code == 0
    _, schema_text, _ = await cli("schema")
    for journey in sorted((tmp_path / "journeys").glob("*.yaml")):
        first = journey.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../journey.schema.json"
        schema_file = (journey.parent / first.split("$schema=")[1]).resolve()
        assert schema_file.read_text() == schema_text  # what `journeyprobe schema` prints
        jsonschema.validate(yaml.safe_load(journey.read_text()), json.loads(schema_text))
        assert "http://127.0.0.1:8000" in journey.read_text()  # the demo shop, without --url


async def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "journeys").mkdir()
    mine = tmp_path / "journeys" / "homepage.yaml"
    mine.write_text("name: mine\n")
    code, out, err = await cli("init", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"{mine} already exists: init never overwrites; choose another folder or move it away\n"
    assert mine.read_text() == "name: mine\n"
    assert files(tmp_path) == ["journeys/homepage.yaml"]
    code, _, err = await cli("init", str(mine))
    assert (code, err) == (2, f"{mine}: not a folder\n")
