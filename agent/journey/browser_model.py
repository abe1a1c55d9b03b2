"""Models of the Playwright actions a `browser:` step runs, one key per action."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema, model_validator

from agent.core.durations import parse_duration

DURATION_JSON_SCHEMA = {
    "description": "a duration such as 250ms, 30s, 1h30m (units ms, s, m, h, d), or seconds",
    "anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$"},
              {"type": "number", "minimum": 0}],
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(DURATION_JSON_SCHEMA)]

ACTIONS = ("goto", "click", "fill", "press", "select", "wait_for", "expect_text",
           "expect_visible", "expect_url", "screenshot")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Target(_Strict):
    selector: str
    timeout: Duration | None = None


class Goto(_Strict):
    url: str
    timeout: Duration | None = None
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = "load"


class Fill(_Strict):
    selector: str
    value: str
    timeout: Duration | None = None


class Press(_Strict):
    key: str
    selector: str | None = None
    timeout: Duration | None = None


class Select(_Strict):
    selector: str
    value: str
    timeout: Duration | None = None


class WaitFor(_Strict):
    selector: str
    state: Literal["attached", "detached", "visible", "hidden"] = "visible"
    timeout: Duration | None = None


class ExpectText(_Strict):
    text: str
    selector: str = "body"
    timeout: Duration | None = None


class ExpectUrl(_Strict):
    url: str
    timeout: Duration | None = None


class Screenshot(_Strict):
    name: str = "screenshot"
    full_page: bool = False


def _short_forms(data: object) -> object:
    """`click: "#pay"` is short for `click: {selector: "#pay"}`, and so on."""
    if not isinstance(data, dict):
        return data
    short = {"goto": "url", "click": "selector", "press": "key", "wait_for": "selector",
             "expect_text": "text", "expect_visible": "selector", "expect_url": "url",
             "screenshot": "name"}
    out = dict(data)
    for key, field in short.items():
        if isinstance(out.get(key), str):
            out[key] = {field: out[key]}
        elif key == "screenshot" and key in out and out[key] is None:
            out[key] = {}
    return out


class BrowserAction(_Strict):
    """One action; exactly one of the fields is set."""

    goto: Goto | None = None
    click: Target | None = None
    fill: Fill | None = None
    press: Press | None = None
    select: Select | None = None
    wait_for: WaitFor | None = None
    expect_text: ExpectText | None = None
    expect_visible: Target | None = None
    expect_url: ExpectUrl | None = None
    screenshot: Screenshot | None = None
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: object) -> object:
        return _short_forms(data)

    @model_validator(mode="after")
    def _exactly_one(self) -> BrowserAction:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            raise ValueError(f"a browser action needs exactly one of {', '.join(ACTIONS)}")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    @property
    def options(self) -> BaseModel:
        value = getattr(self, self.action)
        assert value is not None
        return value

    @property
    def timeout(self) -> float | None:
        return getattr(self.options, "timeout", None)


