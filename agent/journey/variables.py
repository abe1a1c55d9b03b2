"""Variables, `env.` and `secret.` lookups, Jinja2 sandboxed rendering, and redaction of secrets."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

REDACTED = "[REDACTED]"

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                     keep_trailing_newline=True)
_SECRET_REFERENCE = re.compile(r"\bsecret\s*(\.|\[)")


class TemplateRenderError(ValueError):
    """A template could not be rendered: unknown variable, missing env, syntax."""


class _Namespace(Mapping[str, str]):
    """`env.NAME` / `secret.NAME`: the process environment; a missing name is undefined."""

    def __init__(self, label: str, environ: Mapping[str, str], reveal: list[str] | None = None) -> None:
        self._label = label
        self._environ = environ
        self._reveal = reveal

    def __getitem__(self, key: str) -> str:
        value = self._environ[key]
        if self._reveal is not None:
            self._reveal.append(value)
        return value

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        if key in self._environ:
            return self[key]
        return _ENV.undefined(name=f"{self._label}.{key}", hint=f"{self._label}.{key} is not set in the environment")

    def __iter__(self) -> Any:
        return iter(())  # never enumerate the environment into a template

    def __len__(self) -> int:
        return 0


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return _ENV.from_string(source)


def has_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Render one template string; plain strings pass through untouched."""
    if not has_template(source):
        return source
    try:
        return str(_compile(source).render(variables))
    except TemplateError as exc:
        raise TemplateRenderError(_describe(exc, source)) from None


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render every string inside a JSON-like value (dicts, lists, scalars)."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {render(str(k), variables): render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, variables) for v in value]
    return value


def _describe(exc: TemplateError, source: str) -> str:
    message = exc.message or type(exc).__name__
    if isinstance(exc, Undefined) or "undefined" in message:
        return f"in template {source!r}: {message}"
    return f"in template {source!r}: {message}"


class Variables:
    """The variables of one run: the journey's, rendered in order, plus overrides and extractions.

    Secret values (anything read through `secret.`, and variables whose template reads one)
    are collected so that `redactor` can remove them from every output.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ  # read live, never copied per run
        self._revealed: list[str] = []
        self.values: dict[str, Any] = {
            "env": _Namespace("env", self._environ),
            "secret": _Namespace("secret", self._environ, self._revealed),
        }
        self.secrets: set[str] = set()

    @property
    def environ(self) -> Mapping[str, str]:
        """Where `env.` and `secret.` read from."""
        return self._environ

    def define(self, definitions: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> None:
        """Render the journey's variables in order; `overrides` (from --var) win and are not rendered."""
        overrides = overrides or {}
        for name, template in definitions.items():
            if name in overrides:
                continue
            try:
                value = render(template, self.values)
            except TemplateRenderError as exc:
                raise TemplateRenderError(f"variable {name!r}: {exc}") from None
            self.values[name] = value
            if _SECRET_REFERENCE.search(template):
                self.secrets.add(value)
            self._collect()
        for name, value in overrides.items():
            self.values[name] = value

    def set(self, name: str, value: Any) -> None:
        self.values[name] = value

    def render(self, source: str) -> str:
        try:
            return render(source, self.values)
        finally:
            self._collect()

    def render_value(self, value: Any) -> Any:
        try:
            return render_value(value, self.values)
        finally:
            self._collect()

    def _collect(self) -> None:
        if self._revealed:
            self.secrets.update(self._revealed)
            self._revealed.clear()

    def public(self) -> dict[str, Any]:
        """The plain variables (not env/secret namespaces), for scripts and debugging."""
        return {k: v for k, v in self.values.items() if k not in ("env", "secret")}

    @property
    def redactor(self) -> Redactor:
        return Redactor(self.secrets)


class Redactor:
    """Replaces every secret value, and its URL-, JSON- and HTML-escaped forms, by [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.update({secret, quote(secret, safe=""), quote_plus(secret), html.escape(secret),
                          json.dumps(secret)[1:-1]})
        ordered = sorted((f for f in forms if f), key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value) if self._pattern else value

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def deep(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.deep(v) for v in value)
        return value
