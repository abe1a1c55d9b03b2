"""OTLP settings: agent.yaml first, then the standard OTEL_EXPORTER_OTLP_* variables, then defaults."""

from __future__ import annotations

import importlib.util

import pytest

from agent.config.models import AgentConfig, OtlpConfig
from agent.core import metric_names as n
from agent.probe.context import ProbeSettings
from agent.probe.result import RunResult
from agent.probe.runner import Runner
from exporters.otlp import TelemetryConfigError, otlp_enabled, resolve
from exporters.telemetry import Telemetry
from tests.conftest import journey
from tests.otlp_receiver import otlp_receiver
from tests.targets import Seen


@pytest.mark.parametrize(("config", "environ", "expected"), [
    ({}, {}, {"timeout_s": 10.0, "interval_s": 15.0, "compression": "gzip", "metrics_endpoint": None}),
    ({"endpoint": "http://c:4318/"}, {}, {"metrics_endpoint": "http://c:4318/v1/metrics",
                                          "traces_endpoint": "http://c:4318/v1/traces"}),
    ({}, {"OTEL_EXPORTER_OTLP_TIMEOUT": "3", "OTEL_METRIC_EXPORT_INTERVAL": "2500",
          "OTEL_EXPORTER_OTLP_COMPRESSION": "none"},
     {"timeout_s": 3.0, "interval_s": 2.5, "compression": None}),
    ({"timeout": "4s", "interval": "1s", "compression": "none"},
     {"OTEL_EXPORTER_OTLP_TIMEOUT": "3", "OTEL_METRIC_EXPORT_INTERVAL": "2500",
      "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
     {"timeout_s": 4.0, "interval_s": 1.0, "compression": "none"}),
    ({}, {"OTEL_EXPORTER_OTLP_TIMEOUT": "10000"}, {"timeout_s": 60.0}),
    ({"endpoint": "http://c:4317"}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
     {"protocol": "grpc", "metrics_endpoint": "http://c:4317"}),
], ids=["defaults", "endpoint-gets-signal-paths", "env-fills-unset-keys", "config-wins-over-env",
        "timeout-capped", "protocol-from-env"])
def test_config_then_environment_then_defaults(config: dict[str, object], environ: dict[str, str],
                                               expected: dict[str, object]) -> None:
    settings = resolve(OtlpConfig.model_validate(config), environ)
    assert {k: getattr(settings, k) for k in expected} == expected


def test_bad_environment_value_is_a_config_error() -> None:
    with pytest.raises(TelemetryConfigError, match="OTEL_METRIC_EXPORT_INTERVAL"):
        resolve(OtlpConfig(), {"OTEL_METRIC_EXPORT_INTERVAL": "soon"})


def test_otlp_is_on_when_configured_or_when_the_endpoint_variable_is_set() -> None:
    assert not otlp_enabled(None, {})
    assert otlp_enabled(OtlpConfig(), {})
    assert otlp_enabled(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})


@pytest.mark.skipif(importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is not None,
                    reason="the optional gRPC exporter is installed")
def test_grpc_without_its_package_is_a_clear_config_error() -> None:
    settings = resolve(OtlpConfig(endpoint="http://127.0.0.1:4317", protocol="grpc"), {})
    with pytest.raises(TelemetryConfigError, match=r"pip install 'journeyprobe\[grpc\]'"):
        Telemetry(otlp=settings)


async def test_standard_variables_alone_route_the_export(target: tuple[str, Seen],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = target
    async with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
        telemetry = Telemetry.from_config(AgentConfig.model_validate({"location": "env"}))
        assert telemetry.otlp is not None and telemetry.otlp.metrics_endpoint is None
        try:
            j = journey([{"name": "a", "http": {"url": f"{url}/json"}}], name="env")
            result: RunResult = await Runner(ProbeSettings(), observer_factory=telemetry.observer).run(j)
            telemetry.record(result, j)
        finally:
            await telemetry.aclose(5)
    assert receiver.points(n.JOURNEY_RUNS)
    assert {r["path"] for r in receiver.requests} == {"/v1/metrics", "/v1/traces"}
    assert all(r["headers"].get("x-tenant") == "acme" for r in receiver.requests)
