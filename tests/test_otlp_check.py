"""`journeyprobe check --otlp ENDPOINT` end to end: a subprocess, a local target, a real OTLP receiver."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from agent.core import metric_names as n
from tests.conftest import free_port
from tests.otlp_receiver import attributes, otlp_receiver
from tests.targets import Seen, serve, target_app


async def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    pipe = asyncio.subprocess.PIPE
    process = await asyncio.create_subprocess_exec(sys.executable, *args, stdout=pipe, stderr=pipe,
                                                   env=env, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def journey_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(f"""
name: shop
labels: {{team: web}}
steps:
  - name: home
    http: {{url: "{url}/json"}}
    expect: ['json.items[0].sku == "ABC-1"']
""")
    return path


async def test_check_exports_the_runs_metrics_and_spans(tmp_path: Path) -> None:
    seen = Seen()
    async with serve(target_app(seen)) as url, otlp_receiver(encoding="gzip") as receiver:
        code, out, err = await cli("-m", "agent", "check", str(journey_file(tmp_path, url)), "--json",
                                   "--location", "ci", "--otlp", receiver.url, cwd=tmp_path)
    assert code == 0, err
    run = json.loads(out)["journeys"][0]
    assert run["outcome"] == "success"
    spans = receiver.spans()
    root = next(s for s in spans if s.name == "journey shop")
    assert root.trace_id.hex() == run["trace_id"]
    assert {s.trace_id.hex() for s in spans} == {run["trace_id"]}
    assert len(spans) == 3  # journey, step, GET
    sent = seen.headers("/json")[0]["traceparent"]
    assert sent.split("-")[1] == run["trace_id"]
    points = receiver.points(n.JOURNEY_RUNS)
    assert [(attributes(p), p.as_int) for p in points] == [
        ({n.JOURNEY_NAME: "shop", n.JOURNEY_OUTCOME: "success", n.PROBE_LOCATION: "ci", "team": "web"}, 1)]
    duration = receiver.points(n.JOURNEY_DURATION)
    assert duration[0].exemplars[0].trace_id.hex() == run["trace_id"]
    assert "warning" not in err


async def test_check_with_the_collector_down_still_reports_and_exits_in_time(tmp_path: Path) -> None:
    async with serve(target_app(Seen())) as url:
        started = time.perf_counter()
        code, out, err = await cli("-m", "agent", "check", str(journey_file(tmp_path, url)), "--json",
                                   "--otlp", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert code == 0
    assert json.loads(out)["journeys"][0]["outcome"] == "success"
    assert "warning: OTLP export" in err
    assert time.perf_counter() - started < 20


async def test_check_without_otlp_does_not_import_opentelemetry(tmp_path: Path) -> None:
    async with serve(target_app(Seen())) as url:
        code, _, err = await cli("-X", "importtime", "-m", "agent", "check", str(journey_file(tmp_path, url)),
                                 "--json", cwd=tmp_path)
    assert code == 0
    imported = [line.rsplit("|", 1)[-1].strip() for line in err.splitlines()
                if line.startswith("import time:")]
    assert "agent.cli.check" in imported
    assert not [m for m in imported if m.startswith(("opentelemetry", "exporters", "prometheus_client"))]
