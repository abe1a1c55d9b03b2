"""Frozen pydantic models of a journey file: journeys, steps, SLOs. No runtime state."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from agent.core.durations import parse_byte_size, parse_duration, parse_objective
from agent.journey.browser_model import DURATION_JSON_SCHEMA, BrowserAction

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
LABEL_KEY_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
RESERVED_LABELS = frozenset({"name", "step", "outcome", "location", "error_type", "journey",
                             "slo", "window", "le", "job", "instance", "exporter", "sink"})
RESERVED_LABEL_PREFIXES = ("journey_", "probe_", "http_", "server_", "slo_", "error_", "otel_", "service_",
                           "url_", "__")
MAX_LABELS = 10
MAX_LABEL_VALUE = 64

Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(DURATION_JSON_SCHEMA)]
"""Seconds, written as `250ms`, `30s`, `1h30m` or a number."""
Objective = Annotated[float, BeforeValidator(parse_objective), WithJsonSchema({
    "description": "a ratio such as 99.5% or 0.995",
    "anyOf": [{"type": "string", "pattern": r"^\s*(\d{1,2}(\.\d+)?\s*%|0?\.\d+)\s*$"},
              {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}]})]
ByteSize = Annotated[int, BeforeValidator(parse_byte_size), WithJsonSchema({
    "description": "a size in bytes, or with a unit such as 512KiB, 1MiB, 1MB",
    "anyOf": [{"type": "string", "pattern": r"^\s*\d+\s*([bB]|[kKmMgG][iI]?[bB])?\s*$"},
              {"type": "integer", "minimum": 1}]})]
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]


def _expectation_syntax(text: str) -> str:
    from agent.expect.expression import ExpectationSyntaxError, parse

    try:
        parse(text)
    except ExpectationSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return text


def _subject_syntax(text: str) -> str:
    from agent.expect.expression import ExpectationSyntaxError, parse_subject

    try:
        parse_subject(text)
    except ExpectationSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return text


def _regex_syntax(text: str) -> str:
    from agent.expect.regex import RegexError, compile_regex

    try:
        compile_regex(text)
    except RegexError as exc:
        raise ValueError(f"invalid regex {text!r}: {exc}") from None
    return text


ExpectationText = Annotated[str, AfterValidator(_expectation_syntax)]
SubjectText = Annotated[str, AfterValidator(_subject_syntax)]


class Strict(BaseModel):
    """Base of every model of the format: unknown keys fail, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, coerce_numbers_to_str=True)


class BasicAuth(Strict):
    username: str
    password: str


class HttpRequest(Strict):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    form: dict[str, str] | None = None
    basic_auth: BasicAuth | None = None
    timeout: Duration | None = Field(default=None, gt=0)
    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=0, le=50)
    verify_tls: bool = True
    max_body: ByteSize = Field(default=1024 * 1024, description="bytes of the body read at most")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequest:
        given = [k for k, v in (("json", self.json_body), ("body", self.body), ("form", self.form))
                 if v is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of json, body and form, not {' and '.join(given)}")
        return self


class RegexExtract(Strict):
    from_: SubjectText = Field(default="body", alias="from")
    regex: Annotated[str, AfterValidator(_regex_syntax)]
    group: int = Field(default=1, ge=0)


class Step(Strict):
    name: str = Field(min_length=1, max_length=128)
    http: HttpRequest | None = None
    browser: list[BrowserAction] | None = Field(default=None, min_length=1)
    script: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    timeout: Duration | None = Field(default=None, gt=0)
    expect: list[ExpectationText] = []
    extract: dict[str, SubjectText | RegexExtract] = {}

    @property
    def kind(self) -> str:
        return "http" if self.http else "browser" if self.browser else "script"

    @property
    def step_timeout(self) -> float | None:
        return self.timeout if self.timeout is not None else (self.http.timeout if self.http else None)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in ("http", "browser", "script") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a step needs exactly one of http, browser or script"
                             + (f", not {' and '.join(kinds)}" if kinds else ""))
        if self.expect and self.kind != "http":
            raise ValueError("expect applies to http steps; browser steps use expect_* actions")
        for var in self.extract:
            if not re.fullmatch(r"[A-Za-z_]\w*", var):
                raise ValueError(f"extract: {var!r} is not a valid variable name")
        return self


class LatencyIndicator(Strict):
    latency: Duration = Field(gt=0)


class SloAlerting(Strict):
    min_runs: int = Field(default=0, ge=0, description="runs needed in the short window to alert")
    min_events: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        default="auto", description="events the long window of a pair needs before that pair alerts; auto: "
        "enough that one failed run alone cannot fire it (at most 90% of the runs the window holds)")
    renotify: Duration = Field(default=4 * 3600, gt=0)


class SloLocations(Strict):
    min_failing: int = Field(
        default=1, ge=1, le=100, description="locations that must fail together before a run interval "
        "counts as bad for alerting (judged across the fleet by the Prometheus rules)")


class Slo(Strict):
    name: Name
    indicator: Literal["success"] | LatencyIndicator = "success"
    objective: Objective
    window: Duration = Field(default=28 * 86400, ge=3600)
    owner: str = Field(min_length=1, description="who in the business owns this SLO")
    description: str = ""
    alerting: SloAlerting = SloAlerting()
    locations: SloLocations = SloLocations()

    @field_validator("owner")
    @classmethod
    def _owner_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("owner must name a person or role")
        return value.strip()


class Retry(Strict):
    attempts: int = Field(default=1, ge=1, le=10)
    delay: Duration = Field(default=0, ge=0)


class JourneyTelemetry(Strict):
    detail: Literal["basic", "steps", "requests"] | None = Field(
        default=None, description="series on /metrics and OTLP: basic, steps (+ step and vitals histograms) or "
                                  "requests (+ HTTP client histogram); default: the agent's")


class Journey(Strict):
    name: Name
    description: str = ""
    interval: Duration = Field(default=60, ge=1)
    timeout_: Duration | None = Field(default=None, alias="timeout", gt=0)
    labels: dict[str, str] = {}
    variables: dict[str, str] = {}
    retry: Retry = Retry()
    traceparent: bool = True
    steps: list[Step] = Field(min_length=1)
    slos: list[Slo] = []
    telemetry: JourneyTelemetry | None = None
    _source: str | None = PrivateAttr(default=None)

    @property
    def timeout(self) -> float:
        """Deadline of one whole run: the given one, else min(interval, 60s)."""
        return self.timeout_ if self.timeout_ is not None else min(self.interval, 60.0)

    @property
    def source(self) -> str | None:
        """The file the journey was loaded from, when it came from one."""
        return self._source

    @field_validator("labels")
    @classmethod
    def _low_cardinality(cls, labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} labels")
        for key, value in labels.items():
            if not LABEL_KEY_PATTERN.match(key):
                raise ValueError(f"label {key!r}: use lower case letters, digits and _")
            if key in RESERVED_LABELS or key.startswith(RESERVED_LABEL_PREFIXES):
                raise ValueError(f"label {key!r} is reserved for journeyprobe's own attributes")
            if len(value) > MAX_LABEL_VALUE or "{{" in value:
                raise ValueError(f"label {key!r}: a short constant value, not a template")
        return labels

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, str]) -> dict[str, str]:
        for key in variables:
            if not re.fullmatch(r"[A-Za-z_]\w*", key) or key in ("env", "secret"):
                raise ValueError(f"variable {key!r}: not a valid name (env and secret are reserved)")
        return variables

    @model_validator(mode="after")
    def _consistent(self) -> Journey:
        names = [s.name for s in self.steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique: {', '.join(duplicates)} repeated")
        slo_names = [s.name for s in self.slos]
        repeated = sorted({n for n in slo_names if slo_names.count(n) > 1})
        if repeated:
            raise ValueError(f"SLO names must be unique: {', '.join(repeated)} repeated")
        if self.timeout_ is not None and self.timeout_ > self.interval:
            raise ValueError(f"timeout ({self.timeout_:g}s) must not exceed interval ({self.interval:g}s)")
        return self
