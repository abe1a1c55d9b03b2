"""Telemetry end to end: real journeys against a local target, exported over OTLP to a real receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from agent.config.models import OtlpConfig
from agent.core import metric_names as n
from agent.probe.context import ProbeSettings
from agent.probe.result import RunResult
from agent.probe.runner import Runner
from agent.probe.trace_context import parse_traceparent
from exporters.otlp import resolve
from exporters.telemetry import Telemetry
from tests.conftest import journey
from tests.otlp_receiver import Receiver, attributes, otlp_receiver
from tests.targets import Seen

SECRET = "s3cr3t-pa55word"
LOCATION = "tokyo-1"


@asynccontextmanager
async def exporting(compression: Literal["gzip", "none"] = "gzip",
                    **extra: Any) -> AsyncIterator[tuple[Receiver, Telemetry]]:
    async with otlp_receiver(encoding="gzip" if compression == "gzip" else "") as receiver:
        settings = resolve(OtlpConfig(endpoint=receiver.url, interval=60, timeout=5, compression=compression,
                                      histograms="explicit"))
        telemetry = Telemetry(location=LOCATION, otlp=settings, **{"detail": "requests", **extra})
        try:
            yield receiver, telemetry
        finally:
            await telemetry.aclose(10)


async def run(telemetry: Telemetry, j: Any) -> RunResult:
    runner = Runner(ProbeSettings(location=LOCATION), environ={"PW": SECRET},
                    observer_factory=telemetry.observer)
    result = await runner.run(j)
    telemetry.record(result, j)
    return result


def checkout(url: str, **extra: Any) -> Any:
    return journey([
        {"name": "login", "http": {"url": f"{url}/echo", "query": {"pw": "{{ pw }}", "user": "demo"}},
         "expect": ["status == 200"]},
        {"name": "browse", "http": {"url": f"{url}/redirect/1"}, "expect": ["status == 200"]},
    ], name="checkout", labels={"team": "shop"}, variables={"pw": "{{ secret.PW }}"}, **extra)


def by_id(spans: list[Span]) -> dict[bytes, Span]:
    return {s.span_id: s for s in spans}


@pytest.mark.parametrize("compression", ["gzip", "none"])
async def test_span_tree_semconv_and_traceparent_join(target: tuple[str, Seen],
                                                      compression: Literal["gzip", "none"]) -> None:
    url, seen = target
    async with exporting(compression) as (receiver, telemetry):
        result = await run(telemetry, checkout(url))
        assert result.passed, result.error
    spans = receiver.spans()
    assert all(SECRET not in str(s) for s in spans)
    roots = [s for s in spans if s.name == "journey checkout"]
    assert len(roots) == 1
    root = roots[0]
    assert root.kind == Span.SPAN_KIND_INTERNAL and root.parent_span_id == b""
    assert attributes(root) == {n.JOURNEY_NAME: "checkout", n.PROBE_LOCATION: LOCATION, "journey.attempt": 1,
                                n.JOURNEY_OUTCOME: "success"}
    assert root.trace_id.hex() == result.trace_id
    assert {s.trace_id for s in spans} == {root.trace_id}

    steps = {s.name: s for s in spans if s.name.startswith("step ")}
    assert set(steps) == {"step login", "step browse"}
    assert all(s.parent_span_id == root.span_id for s in steps.values())
    clients = [s for s in spans if s.kind == Span.SPAN_KIND_CLIENT]
    assert [s.name for s in clients] == ["GET", "GET", "GET"]  # login, browse and its redirect hop
    login = next(s for s in clients if s.parent_span_id == steps["step login"].span_id)
    login_attrs = attributes(login)
    port = int(url.rsplit(":", 1)[1])
    assert login_attrs == {n.HTTP_METHOD: "GET", n.URL_FULL: f"{url}/echo?pw=REDACTED&user=REDACTED",
                           n.SERVER_ADDRESS: "127.0.0.1", n.SERVER_PORT: port, n.HTTP_STATUS: 200}

    # The target saw the HTTP span's context: same trace as the run, parent = the CLIENT span.
    sent = seen.headers("/echo")[0]
    context = parse_traceparent(sent["traceparent"])
    assert context is not None
    assert context.trace_id == result.trace_id == root.trace_id.hex()
    assert context.span_id == login.span_id.hex()
    assert sent["tracestate"] == "journeyprobe=synthetic"
    assert sent["User-Agent"].startswith("journeyprobe/")

    hops = sorted((s for s in clients if s.parent_span_id == steps["step browse"].span_id),
                  key=lambda s: s.start_time_unix_nano)
    assert [attributes(h).get(n.HTTP_RESEND_COUNT) for h in hops] == [None, 1]
    assert attributes(hops[-1])[n.URL_FULL] == f"{url}/redirect/0"
    sent_ids = {parse_traceparent(h["traceparent"]).span_id  # type: ignore[union-attr]
                for path in ("/redirect/1", "/redirect/0") for h in seen.headers(path)}
    assert sent_ids == {h.span_id.hex() for h in hops}


async def test_failing_run_marks_spans_error_with_redacted_messages(target: tuple[str, Seen]) -> None:
    url, _ = target
    j = journey([{"name": "login", "http": {"url": f"{url}/echo", "query": {"pw": "{{ pw }}"}},
                  "expect": ['json.query.pw == "nope"']},
                 {"name": "never", "http": {"url": f"{url}/json"}}],
                name="failing", variables={"pw": "{{ secret.PW }}"})
    broken = journey([{"name": "oops", "http": {"url": f"{url}/status/500"}, "expect": ["status == 200"]}],
                     name="broken")
    async with exporting() as (receiver, telemetry):
        result = await run(telemetry, j)
        await run(telemetry, broken)
    assert result.error_type == "assertion"
    spans = receiver.spans()
    assert all(SECRET not in str(s) for s in spans)
    root = next(s for s in spans if s.name == "journey failing")
    assert root.status.code == Status.STATUS_CODE_ERROR
    assert "[REDACTED]" in root.status.message and "json.query.pw" in root.status.message
    assert attributes(root)[n.ERROR_TYPE] == "assertion"
    step = next(s for s in spans if s.name == "step login")
    assert step.status.code == Status.STATUS_CODE_ERROR and "[REDACTED]" in step.status.message
    assert not any(s.name == "step never" for s in spans)  # skipped steps have no span
    clients = [s for s in spans if s.kind == Span.SPAN_KIND_CLIENT]
    server_error = next(s for s in clients if attributes(s)[n.HTTP_STATUS] == 500)
    assert server_error.status.code == Status.STATUS_CODE_ERROR
    assert attributes(server_error)[n.ERROR_TYPE] == "500"


async def test_metrics_names_units_attributes_resource_and_exemplars(target: tuple[str, Seen]) -> None:
    url, _ = target
    failing = journey([{"name": "oops", "http": {"url": f"{url}/status/503"}, "expect": ["status == 200"]}],
                      name="broken", labels={"team": "shop"})
    async with exporting() as (receiver, telemetry):
        good = await run(telemetry, checkout(url))
        bad = await run(telemetry, failing)
    assert good.passed and not bad.passed
    resource = attributes(receiver.metric_list()[-1][0])
    assert resource["service.name"] == "journeyprobe"
    assert resource["service.version"] == __import__("agent").__version__
    assert len(resource["service.instance.id"]) == 36
    assert resource[n.PROBE_LOCATION] == LOCATION

    runs = receiver.latest(n.JOURNEY_RUNS)
    assert runs is not None and runs.sum.is_monotonic and runs.sum.aggregation_temporality == 2
    got = sorted(((attributes(p), p.as_int) for p in runs.sum.data_points), key=str)
    base = {n.PROBE_LOCATION: LOCATION, "team": "shop"}
    assert got == sorted([
        ({**base, n.JOURNEY_NAME: "broken", n.JOURNEY_OUTCOME: "failure", n.ERROR_TYPE: "assertion"}, 1),
        ({**base, n.JOURNEY_NAME: "checkout", n.JOURNEY_OUTCOME: "success"}, 1)], key=str)

    duration = receiver.latest(n.JOURNEY_DURATION)
    assert duration is not None and duration.unit == "s"
    points = {attributes(p)[n.JOURNEY_NAME]: p for p in duration.histogram.data_points}
    assert attributes(points["checkout"]) == {**base, n.JOURNEY_NAME: "checkout",
                                              n.JOURNEY_OUTCOME: "success"}
    assert tuple(points["checkout"].explicit_bounds) == n.DURATION_BUCKETS
    for name, result in (("checkout", good), ("broken", bad)):
        exemplars = list(points[name].exemplars)
        assert exemplars, f"no exemplar on journey.duration of {name}"
        assert exemplars[-1].trace_id.hex() == result.trace_id

    steps = receiver.latest(n.JOURNEY_STEP_DURATION)
    assert steps is not None and steps.unit == "s"
    assert sorted((attributes(p)[n.JOURNEY_STEP], attributes(p)[n.JOURNEY_OUTCOME])
                  for p in steps.histogram.data_points) == [("browse", "success"), ("login", "success"),
                                                            ("oops", "failure")]
    success = receiver.latest(n.JOURNEY_SUCCESS)
    assert success is not None
    last = success.gauge.data_points
    assert sorted((attributes(p)[n.JOURNEY_NAME], p.as_int) for p in last) == [("broken", 0), ("checkout", 1)]
    assert all(set(attributes(p)) == {n.JOURNEY_NAME, n.PROBE_LOCATION, "team"} for p in last)

    http = receiver.latest(n.HTTP_CLIENT_DURATION)
    assert http is not None and http.unit == "s"
    keys = {frozenset(attributes(p)) for p in http.histogram.data_points}
    common = {n.HTTP_METHOD, n.HTTP_STATUS, n.SERVER_ADDRESS, n.SERVER_PORT, n.JOURNEY_NAME, n.JOURNEY_STEP,
              "team"}
    assert keys == {frozenset(common), frozenset(common | {n.ERROR_TYPE})}
    assert {attributes(p).get(n.ERROR_TYPE) for p in http.histogram.data_points} == {None, "503"}
    assert all(SECRET not in str(m) and "url" not in str(attributes(p))
               for _, m in receiver.metric_list() for p in getattr(m, m.WhichOneof("data")).data_points)


async def test_traceparent_opt_out_sends_no_trace_headers_but_keeps_spans(target: tuple[str, Seen]) -> None:
    url, seen = target
    j = journey([{"name": "get", "http": {"url": f"{url}/json"}}], name="quiet", traceparent=False)
    async with exporting(tracestate=None) as (receiver, telemetry):
        result = await run(telemetry, j)
    sent = seen.headers("/json")[0]
    assert "traceparent" not in sent and "tracestate" not in sent
    clients = [s for s in receiver.spans() if s.kind == Span.SPAN_KIND_CLIENT]
    assert [s.trace_id.hex() for s in clients] == [result.trace_id]


async def test_retried_run_counts_once_with_the_last_attempts_trace(target: tuple[str, Seen]) -> None:
    url, _ = target
    j = journey([{"name": "get", "http": {"url": f"{url}/status/500"}, "expect": ["status == 200"]}],
                name="retried", retry={"attempts": 2})
    async with exporting() as (receiver, telemetry):
        result = await run(telemetry, j)
    assert result.attempt == 2 and len(result.earlier_attempts) == 1
    roots = [s for s in receiver.spans() if s.name == "journey retried"]
    assert sorted(attributes(r)["journey.attempt"] for r in roots) == [1, 2]
    runs = receiver.points(n.JOURNEY_RUNS)
    assert [p.as_int for p in runs] == [1]
    exemplar = receiver.points(n.JOURNEY_DURATION)[0].exemplars[-1]
    assert exemplar.trace_id.hex() == result.trace_id


@pytest.mark.parametrize(("url", "expected"), [
    ("https://shop.example/a?q=1&q=2&sig=x", "https://shop.example/a?q=REDACTED&q=REDACTED&sig=REDACTED"),
    ("https://user:pw@shop.example/login", "https://REDACTED:REDACTED@shop.example/login"),
    ("http://127.0.0.1:8080/cart#token=abc", "http://127.0.0.1:8080/cart"),
    (f"https://shop.example/users/{SECRET}/orders", "https://shop.example/users/[REDACTED]/orders"),
], ids=["query-values", "credentials", "fragment", "secret-in-path"])
def test_url_full_has_no_query_values_credentials_or_secrets(url: str, expected: str) -> None:
    assert n.redacted_url(url, lambda text: text.replace(SECRET, "[REDACTED]")) == expected
