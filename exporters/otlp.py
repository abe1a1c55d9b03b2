"""OTLP exporters (http/protobuf, or gRPC when installed) that count their failures and never block runs.

Settings come from `exporters.otlp` in agent.yaml; a key left out of the config falls back
to the standard `OTEL_EXPORTER_OTLP_*` variable (the SDK exporters read those when an
argument is None), then to journeyprobe's default. Exports run in the SDK's own threads
(PeriodicExportingMetricReader, BatchSpanProcessor); each request is bounded by `timeout`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agent.config.loader import ConfigError
from agent.config.models import OtlpConfig

log = logging.getLogger("journeyprobe.exporters.otlp")

WARN_EVERY_S = 60.0
"""At most one warning per signal in this many seconds, however often exports fail."""
_SDK_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.metric_exporter",
                "opentelemetry.exporter.otlp.proto.http.trace_exporter",
                "opentelemetry.exporter.otlp.proto.grpc.exporter",
                "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
                "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
                "opentelemetry.sdk._shared_internal")


class TelemetryConfigError(ConfigError):
    """The telemetry part of the agent config cannot be used (such as gRPC without its package)."""


MAX_TIMEOUT_S = 60.0
"""Upper bound of one export request, whatever the config or OTEL_EXPORTER_OTLP_TIMEOUT say."""


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    """What the OTLP exporters get; None means: let the SDK read its OTEL_* variable."""

    protocol: str
    metrics_endpoint: str | None
    traces_endpoint: str | None
    headers: Mapping[str, str] | None
    timeout_s: float
    compression: str | None
    interval_s: float
    traces: bool
    histograms: str = "exponential"


def otlp_enabled(config: OtlpConfig | None, environ: Mapping[str, str] | None = None) -> bool:
    """OTLP is on when agent.yaml configures it, or when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    environ = os.environ if environ is None else environ
    return config is not None or bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def resolve(config: OtlpConfig | None, environ: Mapping[str, str] | None = None) -> OtlpSettings:
    """Merge the config with the OTEL_* variables: a key set in the config wins, then the variable.

    Endpoint, headers and compression left to the SDK read their variables there (headers
    from both are merged, the config's winning). Interval and timeout are resolved here,
    as the readers need them too; the timeout is in seconds, as the Python SDK reads it.
    """
    environ = os.environ if environ is None else environ
    config = config or OtlpConfig()
    given = config.model_fields_set

    def number(field: str, variables: tuple[str, ...], scale: float) -> float:
        value: float = getattr(config, field)
        raw = next((environ[v] for v in variables if environ.get(v)), None)
        if field in given or raw is None:
            return value
        try:
            return float(raw) * scale
        except ValueError:
            raise TelemetryConfigError(f"{variables[0]}={raw!r}: not a number") from None

    protocol = config.protocol if "protocol" in given else (
        environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or config.protocol)
    if protocol not in ("http/protobuf", "grpc"):
        raise TelemetryConfigError(f"exporters.otlp.protocol {protocol!r}: use http/protobuf or grpc")
    base = config.endpoint.rstrip("/") if config.endpoint else None
    grpc = protocol == "grpc"
    compression_vars = ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
    timeout = number("timeout", ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"), 1.0)
    return OtlpSettings(
        protocol=protocol,
        metrics_endpoint=(base if grpc else f"{base}/v1/metrics") if base else None,
        traces_endpoint=(base if grpc else f"{base}/v1/traces") if base else None,
        headers=dict(config.headers) if config.headers else None,
        timeout_s=min(max(timeout, 0.001), MAX_TIMEOUT_S),
        compression=None if "compression" not in given and any(environ.get(v) for v in compression_vars)
        else config.compression,
        interval_s=max(number("interval", ("OTEL_METRIC_EXPORT_INTERVAL",), 0.001), 0.05),
        traces=config.traces,
        histograms=config.histograms or _histograms(environ),
    )


HISTOGRAM_VARIABLE = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"


def _histograms(environ: Mapping[str, str]) -> str:
    """The standard variable's choice (explicit_bucket_histogram or base2_exponential_bucket_histogram)."""
    raw = environ.get(HISTOGRAM_VARIABLE, "").strip().lower()
    if not raw or raw == "base2_exponential_bucket_histogram":
        return "exponential"
    if raw == "explicit_bucket_histogram":
        return "explicit"
    raise TelemetryConfigError(f"{HISTOGRAM_VARIABLE}={raw!r}: use explicit_bucket_histogram or "
                               "base2_exponential_bucket_histogram")


class ExportFailures:
    """Failed exports by signal (thread-safe), with a rate-limited warning."""

    def __init__(self, warn_every: float = WARN_EVERY_S) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._last_warning: dict[str, float] = {}
        self._warn_every = warn_every

    def failed(self, signal: str, where: str, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._counts[signal] += 1
            self._unreported[signal] += 1
            last = self._last_warning.get(signal)
            if last is not None and now - last < self._warn_every:
                return
            self._last_warning[signal] = now
            count, self._unreported[signal] = self._unreported[signal], 0
        log.warning("%s export to %s failed (%s); %d failure(s) since the last warning. "
                    "Runs go on; the data of failed exports is lost.", signal, where, reason, count)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class CountingMetricExporter(MetricExporter):
    """Delegates to the real exporter; a failed or raising export is counted, never raised."""

    def __init__(self, inner: MetricExporter, failures: ExportFailures, where: str) -> None:
        super().__init__(preferred_temporality=inner._preferred_temporality,
                         preferred_aggregation=inner._preferred_aggregation)
        self.inner, self._failures, self._where = inner, failures, where

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:  # an exporter bug must not kill the export thread
            self._failures.failed("otlp.metrics", self._where, f"{type(exc).__name__}: {exc}")
            return MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            self._failures.failed("otlp.metrics", self._where, "the collector did not accept the batch")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class CountingSpanExporter(SpanExporter):
    """Delegates to the real span exporter; failures are counted, never raised."""

    def __init__(self, inner: SpanExporter, failures: ExportFailures, where: str) -> None:
        self.inner, self._failures, self._where = inner, failures, where

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            self._failures.failed("otlp.traces", self._where, f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._failures.failed("otlp.traces", self._where, "the collector did not accept the batch")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def build_exporters(settings: OtlpSettings, failures: ExportFailures,
                    ) -> tuple[MetricExporter, SpanExporter | None]:
    """The metric exporter and (when traces are on) the span exporter, wrapped to count failures."""
    quiet_sdk_loggers()
    if settings.protocol == "grpc":
        metric_exporter, span_exporter = _grpc(settings)
    else:
        metric_exporter, span_exporter = _http(settings)
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "the default endpoint"
    return (CountingMetricExporter(metric_exporter, failures, settings.metrics_endpoint or base),
            CountingSpanExporter(span_exporter, failures, settings.traces_endpoint or base)
            if span_exporter is not None else None)


def _http(settings: OtlpSettings) -> tuple[MetricExporter, SpanExporter | None]:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    compression = None if settings.compression is None else (
        Compression.Gzip if settings.compression == "gzip" else Compression.NoCompression)
    common: dict[str, Any] = {"headers": settings.headers, "timeout": settings.timeout_s,
                              "compression": compression}
    metrics = OTLPMetricExporter(endpoint=settings.metrics_endpoint, **common)
    spans = OTLPSpanExporter(endpoint=settings.traces_endpoint, **common) if settings.traces else None
    return metrics, spans


def _grpc(settings: OtlpSettings) -> tuple[MetricExporter, SpanExporter | None]:
    try:
        from grpc import Compression  # type: ignore[import-not-found,unused-ignore]
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter,
        )
    except ImportError:
        raise TelemetryConfigError(
            "exporters.otlp.protocol grpc needs the optional gRPC exporter, which is not installed: "
            "pip install 'journeyprobe[grpc]', or use protocol: http/protobuf") from None
    endpoint = settings.metrics_endpoint
    common: dict[str, Any] = {
        "headers": settings.headers, "timeout": settings.timeout_s,
        "compression": None if settings.compression is None else (
            Compression.Gzip if settings.compression == "gzip" else Compression.NoCompression),
        "insecure": True if endpoint and endpoint.startswith("http://") else None,
    }
    metrics = OTLPMetricExporter(endpoint=endpoint, **common)
    spans = OTLPSpanExporter(endpoint=endpoint, **common) if settings.traces else None
    return metrics, spans


class _RateLimit(logging.Filter):
    """Lets one record a minute through per logger: the SDK logs every failed export as an error."""

    def __init__(self, every: float = WARN_EVERY_S) -> None:
        super().__init__()
        self._every = every
        self._last = -every
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._every:
                return False
            self._last = now
        return True


def quiet_sdk_loggers() -> None:
    """Rate-limit the OTLP SDK's own per-failure log lines (our warning says how many failed)."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RateLimit) for f in logger.filters):
            logger.addFilter(_RateLimit())
