"""Prometheus alone (no span exporter): no spans are built, the ids and headers are those of a trace."""

from __future__ import annotations

from agent.probe.context import ProbeSettings
from agent.probe.runner import Runner
from agent.probe.trace_context import parse_traceparent
from exporters.ids_only import IdsOnly
from exporters.telemetry import Telemetry
from tests.conftest import journey
from tests.targets import Seen


async def test_each_request_carries_the_runs_trace_and_its_own_span(target: tuple[str, Seen]) -> None:
    url, seen = target
    telemetry = Telemetry(location="lab")
    assert isinstance(telemetry.observer(), IdsOnly)
    runner = Runner(ProbeSettings(location="lab"), observer_factory=telemetry.observer)
    j = journey([{"name": "a", "http": {"url": f"{url}/json"}},
                 {"name": "b", "http": {"url": f"{url}/redirect/1"}}], name="ids")
    result = await runner.run(j)
    quiet = journey([{"name": "a", "http": {"url": f"{url}/json"}}], name="quiet", traceparent=False)
    assert (await runner.run(quiet)).passed
    await telemetry.aclose()
    assert result.passed, result.error
    sent = [r["headers"] for r in seen.requests]
    contexts = [parse_traceparent(h["traceparent"]) for h in sent[:3]]  # /json, /redirect/1, /redirect/0
    assert all(c is not None and c.trace_id == result.trace_id and c.sampled for c in contexts)
    assert len({c.span_id for c in contexts if c is not None}) == 3  # a span id per request and hop
    assert all(h["tracestate"] == "journeyprobe=synthetic" for h in sent[:3])
    assert "traceparent" not in sent[3] and "tracestate" not in sent[3]
