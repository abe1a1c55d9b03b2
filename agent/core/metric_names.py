"""Instrument and attribute names of journeyprobe's telemetry (docs/interfaces.md: Telemetry), in one place."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from yarl import URL

METER_NAME = "journeyprobe"

# Instruments: OpenTelemetry names (the Prometheus name in the comment).
JOURNEY_RUNS = "journey.runs"  # journey_runs_total
JOURNEY_DURATION = "journey.duration"  # journey_duration_seconds
JOURNEY_STEP_DURATION = "journey.step.duration"  # journey_step_duration_seconds
JOURNEY_SUCCESS = "journey.success"  # journey_success
HTTP_CLIENT_DURATION = "http.client.request.duration"  # http_client_request_duration_seconds
SLO_OBJECTIVE = "slo.objective"  # slo_objective_ratio
SLO_SLI = "slo.sli"  # slo_sli_ratio
SLO_BUDGET_REMAINING = "slo.error_budget.remaining"  # slo_error_budget_remaining_ratio
SLO_BURN_RATE = "slo.burn_rate"  # slo_burn_rate_ratio
SLO_GAUGES = (SLO_OBJECTIVE, SLO_SLI, SLO_BUDGET_REMAINING, SLO_BURN_RATE)
SLO_EVENTS = "slo.events"  # slo_events_total: runs that count for the SLO (agent-side failures left out)
SLO_GOOD_EVENTS = "slo.good_events"  # slo_good_events_total: the good ones among them

# The agent's own health (journeyprobe_*).
SELF_IN_FLIGHT = "journeyprobe.runs.in_flight"  # journeyprobe_runs_in_flight
SELF_SKIPPED = "journeyprobe.runs.skipped"  # journeyprobe_runs_skipped_total
SELF_EXPORT_FAILURES = "journeyprobe.export.failures"  # journeyprobe_export_failures_total
SELF_STORE_LAG = "journeyprobe.store.write_lag"  # journeyprobe_store_write_lag_seconds
SELF_STORE_PENDING = "journeyprobe.store.pending"  # journeyprobe_store_pending
SELF_DROPPED = "journeyprobe.results.dropped"  # journeyprobe_results_dropped_total
SELF_INTERNAL_ERRORS = "journeyprobe.internal_errors"  # journeyprobe_internal_errors_total
SELF_RELOAD_OK = "journeyprobe.config.last_reload_success_timestamp"
# -> journeyprobe_config_last_reload_success_timestamp_seconds

# Attributes.
JOURNEY_NAME = "journey.name"
JOURNEY_STEP = "journey.step"
JOURNEY_OUTCOME = "journey.outcome"
PROBE_LOCATION = "probe.location"
ERROR_TYPE = "error.type"
SLO_NAME = "slo.name"
SLO_WINDOW = "slo.window"
HTTP_METHOD = "http.request.method"
HTTP_STATUS = "http.response.status_code"
HTTP_RESEND_COUNT = "http.request.resend_count"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
URL_FULL = "url.full"
EXPORTER = "exporter"
SINK = "sink"

BROWSER_VITAL = "journey.browser.vital"
BROWSER_LAYOUT_SHIFT = "journey.browser.layout_shift"
VITAL = "vital"
LAYOUT_SHIFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0)
"""CLS is a score: good below 0.1, poor above 0.25."""

DETAIL_BASIC, DETAIL_STEPS, DETAIL_REQUESTS = "basic", "steps", "requests"
DETAILS = (DETAIL_BASIC, DETAIL_STEPS, DETAIL_REQUESTS)
"""How much a journey puts on /metrics and OTLP (docs/metrics.md, "What a journey costs"): `basic`
is the run counter, the last-run gauge, the run histogram with BASIC_BUCKETS and each step's
count and sum; `steps` adds every bucket of DURATION_BUCKETS to the run and step histograms and
the browser vitals; `requests` adds `http.client.request.duration`."""

BASIC_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
"""Bounds of the run histogram at `basic` detail (plus the thresholds of the journey's latency SLOs)."""

DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 2.5, 3.0, 5.0, 7.5, 10.0, 15.0,
                    30.0, 60.0)
"""Histogram bounds in seconds: 10 ms to 60 s, as journeys and their steps take."""

KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"})
REDACTED = "REDACTED"

# Journey labels become attributes, unless their Prometheus form would clash with one of ours.
_CLASHING = re.compile(r"^(journey|probe|http|server|url|slo|otel|service|target|error|exporter|sink)(_|$)")


_warned: set[str] = set()


def label_attributes(labels: Mapping[str, str]) -> dict[str, str]:
    """The journey's labels usable as metric attributes; keys that would clash are left out (and logged)."""
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not _CLASHING.match(key):
            out[key] = value
        elif key not in _warned:
            _warned.add(key)
            logging.getLogger("journeyprobe.telemetry").warning(
                "journey label %r is left out of metrics: its Prometheus name would clash with "
                "journeyprobe's own labels (journey_*, probe_*, http_*, server_*, slo_*, ...)", key)
    return out


def http_method(method: str) -> str:
    """`http.request.method` per semantic conventions: known methods upper case, else _OTHER."""
    upper = method.upper()
    return upper if upper in KNOWN_METHODS else "_OTHER"


def redacted_url(url: str | URL, redact: object = None) -> str:
    """`url.full` without credentials, fragment or query values, and with the run's secrets removed."""
    parsed = url if isinstance(url, URL) else URL(url)
    if parsed.user is not None or parsed.password is not None:
        parsed = parsed.with_user(REDACTED).with_password(REDACTED if parsed.password is not None else None)
    if parsed.query_string:
        parsed = parsed.with_query([(key, REDACTED) for key, _ in parsed.query.items()])
    text = str(parsed.with_fragment(None))
    return redact(text) if callable(redact) else text  # type: ignore[no-any-return]


def server_of(url: str | URL) -> tuple[str, int | None]:
    """`server.address` and `server.port` of a request URL."""
    parsed = url if isinstance(url, URL) else URL(url)
    return parsed.host or "", parsed.port
