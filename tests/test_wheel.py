"""The built wheel, installed into a fresh venv: `journeyprobe validate` and `journeyprobe demo` work from it.

The wheel is built (`pip wheel --no-deps`) from a copy of the sources, so the checkout gets no build/ folder;
the venv is a plain one, and `pip install WHEEL` takes the dependencies the wheel declares from the package
index (or pip's cache), so a dependency missing from pyproject.toml fails here. Everything then runs from a
folder outside the repository, without PYTHONPATH, so only what the wheel installed can be imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "agent", "exporters", "journeys")
STATUS_LINE = re.compile(r"status page:\s+(http://127\.0\.0\.1:\d+)/")
INSTALL_LIMIT = 600.0
"""Seconds the wheel build and the install may take: a safety net (the install may download)."""
DEMO_LIMIT = 150.0
"""Seconds the demo has to run every example journey once: the longest interval is 60 s (safety net)."""


def run(args: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = INSTALL_LIMIT) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def clean_env(venv: Path) -> dict[str, str]:
    """This environment without any path into the checkout: the venv's bin first, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def copy_sources(dest: Path) -> Path:
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", "*.db-wal", "*.db-shm")
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)
    for extra in REPO.glob("LICEN[CS]E*"):
        shutil.copy2(extra, dest / extra.name)
    return dest


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
            return response.status, json.loads(body) if "json" in response.headers.get("Content-Type", "") else body
    except OSError:
        return 0, None


def wait_until(condition: Any, limit: float, what: str, every: float = 0.2) -> Any:
    """Poll `condition` until it returns something true; `limit` is a safety net that fails loudly."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {limit:g}s"
        time.sleep(every)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """(venv, its environment, a folder outside the repository) with the wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    venv, outside = root / "venv", root / "elsewhere"
    outside.mkdir()
    env = clean_env(venv)
    source = copy_sources(root / "src")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", source], root, env)
    [wheel] = (root / "dist").glob("journeyprobe-*.whl")
    run([sys.executable, "-m", "venv", venv], root, env)
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], outside, env)
    return venv, env, outside


def test_the_wheel_installs_the_packages_and_the_example_journeys(
        installed: tuple[Path, dict[str, str], Path]) -> None:
    venv, env, outside = installed
    where = json.loads(run([venv / "bin" / "python", "-c",
                            "import json, agent, exporters; from agent.examples import bundled_journeys_dir; "
                            "print(json.dumps([agent.__file__, exporters.__file__, str(bundled_journeys_dir())]))"],
                           outside, env))
    for path in where:
        assert Path(path).is_relative_to(venv), f"{path} is not from the installed wheel"
    examples = Path(where[2])
    assert {p.name for p in examples.glob("*.yaml")} >= {"login.yaml", "cart.yaml", "checkout-api.yaml",
                                                         "health.yaml", "checkout-browser.yaml"}
    out = run([venv / "bin" / "journeyprobe", "validate", examples], outside, env)
    assert re.search(r"^\d+ journeys OK$", out, re.MULTILINE), out


def test_demo_from_the_wheel_runs_the_example_journeys_and_stops_on_sigterm(
        installed: tuple[Path, dict[str, str], Path]) -> None:
    venv, env, outside = installed
    stdout, stderr = outside / "demo.out", outside / "demo.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen([str(venv / "bin" / "journeyprobe"), "demo", "--port", "0", "--shop-port", "0",
                                    "--store", str(outside / "demo.db")], cwd=outside, env=env, stdout=out,
                                   stderr=err, stdin=subprocess.DEVNULL)
    try:
        def announced() -> str | None:
            assert process.poll() is None, f"the demo exited {process.returncode}:\n{stderr.read_text()}"
            found = STATUS_LINE.search(stdout.read_text())
            return found.group(1) if found else None

        base = wait_until(announced, 60, "the demo's status page address")
        _, page = wait_until(lambda: (r := get(f"{base}/"))[0] == 200 and r, 30, "the status page")
        assert b"journeyprobe" in page.lower()

        def all_ran() -> list[dict[str, Any]] | None:
            assert process.poll() is None, f"the demo exited {process.returncode}:\n{stderr.read_text()}"
            status, journeys = get(f"{base}/api/v1/journeys")
            if status == 200 and journeys and all(j["last_run"] for j in journeys):
                return journeys  # type: ignore[no-any-return]
            return None

        journeys = wait_until(all_ran, DEMO_LIMIT, "a run of every example journey", every=1.0)
        assert {j["name"] for j in journeys} >= {"login", "cart", "checkout-api", "health", "checkout-browser"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0, stderr.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in stderr.read_text(), stderr.read_text()
