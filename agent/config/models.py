"""The agent's own config (`agent.yaml`, docs/interfaces.md): every key optional, env may override (config.env)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from agent.core.durations import parse_byte_size, parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_byte_size)]
ENV_PREFIX = "JOURNEYPROBE_"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BrowserConfig(_Strict):
    max_contexts: int = Field(default=4, ge=1, le=64)
    executable_path: str | None = None
    headless: bool = True
    launch_timeout: Duration = 30.0
    tracing: bool = Field(default=True, description="keep a Playwright trace of failed runs")
    recycle_after: int = Field(default=200, ge=1, description="contexts before the browser is replaced")


class StorageConfig(_Strict):
    path: str = "journeyprobe.db"
    retention: Duration = 35 * 86400
    run_retention: Duration | None = Field(
        default=None, description="keep whole results this long (default: retention); SLO counts keep retention")
    batch_size: int = Field(default=200, ge=1, le=10_000)
    flush_interval: Duration = 0.5


class ServerConfig(_Strict):
    listen: str = "127.0.0.1:9464"
    token: str | None = None
    public_url: str | None = Field(default=None, description="the status page's address, for alert links")

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        _, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"listen {value!r}: use HOST:PORT, such as 127.0.0.1:9464")
        return value


class OtlpConfig(_Strict):
    endpoint: str | None = None
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    interval: Duration = 15.0
    timeout: Duration = 10.0
    headers: dict[str, str] = {}
    compression: Literal["gzip", "none"] = "gzip"
    traces: bool = True
    histograms: Literal["exponential", "explicit"] | None = Field(
        default=None, description="histogram kind sent (default: OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_"
                                  "AGGREGATION, else exponential)")


class JsonlConfig(_Strict):
    path: str = "results.jsonl"
    max_bytes: ByteSize = 100 * 1024 * 1024
    backups: int = Field(default=3, ge=0, le=100)


class ExportersConfig(_Strict):
    otlp: OtlpConfig | None = None
    prometheus: bool = True
    jsonl: JsonlConfig | None = None


class TelemetryConfig(_Strict):
    detail: Literal["basic", "steps", "requests"] = Field(
        default="basic", description="series per journey on /metrics and OTLP (docs/metrics.md); "
                                     "a journey's own `telemetry.detail` wins")
    slo_windows: Literal["own", "all"] = Field(
        default="own", description="SLI and burn-rate gauges for the SLO's own window only, or for every "
                                   "alerting window too (docs/metrics.md)")


class WebhookConfig(_Strict):
    url: str
    format: Literal["json", "slack"] = "json"
    headers: dict[str, str] = {}


class AlertmanagerConfig(_Strict):
    url: str


class AlertSink(_Strict):
    webhook: WebhookConfig | None = None
    slack: WebhookConfig | None = None
    alertmanager: AlertmanagerConfig | None = None

    @model_validator(mode="after")
    def _one(self) -> AlertSink:
        if sum(x is not None for x in (self.webhook, self.slack, self.alertmanager)) != 1:
            raise ValueError("an alerting entry needs exactly one of webhook, slack or alertmanager")
        return self


class AlertingOptions(_Strict):
    renotify: Duration = 4 * 3600
    evaluate_every: Duration = 30.0
    source: Literal["agent", "rules"] = Field(
        default="agent", description="who sends SLO alerts: the agent (one agent) or the Prometheus rules "
        "of `journeyprobe rules` (a fleet); the agent still shows its verdicts either way")


class ScheduleConfig(_Strict):
    spread_locations: bool = Field(
        default=True, description="offset each location's runs of a journey differently (false: all at once)")
    tick: Duration = Field(
        default=0.05, ge=0.0, le=1.0, description="offsets are whole ticks: runs due in one tick start in one "
        "wake-up of the agent (0: millisecond offsets)")


class ProbeConfig(_Strict):
    user_agent: str | None = None
    tracestate: str | None = "journeyprobe=synthetic"


class AgentConfig(_Strict):
    location: str = Field(default="local", max_length=64)
    journeys: list[str] = ["journeys/*.yaml"]
    concurrency: int = Field(default=100, ge=1, le=10_000)
    jitter: float = Field(default=0.0, ge=0.0, le=0.5)
    shard: str | None = None
    workers: int | Literal["auto"] = Field(
        default=1, description="processes that run the journeys: 1 (the daemon itself), N, or auto (one per core)")
    grace: Duration = 10.0
    reload_poll: Duration = 2.0
    artifacts: str = "artifacts"
    artifacts_retention: Duration = 7 * 86400
    artifacts_max_bytes: ByteSize = 1024**3
    browser: BrowserConfig = BrowserConfig()
    storage: StorageConfig = StorageConfig()
    server: ServerConfig = ServerConfig()
    exporters: ExportersConfig = ExportersConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    alerting: list[AlertSink] = []
    alerts: AlertingOptions = AlertingOptions()
    probe: ProbeConfig = ProbeConfig()
    schedule: ScheduleConfig = ScheduleConfig()

    @field_validator("journeys", mode="before")
    @classmethod
    def _one_glob(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value  # `journeys: checks/*.yaml` is one glob

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        if value is not None:
            from agent.config.shard import parse_shard

            parse_shard(value)
        return value


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(dict(out[key]), value)
        else:
            out[key] = value
    return out

