"""Variables, `env.` and `secret.` lookups, Jinja2 sandboxed rendering; the secrets a run reveals.

Redaction itself lives in `agent.core.redaction`: every secret a run reveals is registered there
the moment it is read, so whatever any output shows afterwards can be redacted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agent.core import redaction
from agent.core.redaction import REDACTED, Redactor

__all__ = ["REDACTED", "Redactor", "TemplateRenderError", "Variables", "has_template", "render", "render_value"]

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
                self._add_secret(value)
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

    def basic_auth(self, username: str, password: str) -> tuple[str, str]:
        """Render a basic-auth pair; when either part is secret, `user:password` is one too (its base64)."""
        user, word = self.render(username), self.render(password)
        if self.secrets and self.redactor.text(user + "\n" + word) != user + "\n" + word:
            self._add_secret(f"{user}:{word}")
        return user, word

    def _add_secret(self, value: str) -> None:
        if value and value not in self.secrets:
            self.secrets.add(value)
            redaction.register(value)

    def _collect(self) -> None:
        if self._revealed:
            for value in self._revealed:
                self._add_secret(value)
            self._revealed.clear()

    def public(self) -> dict[str, Any]:
        """The plain variables (not env/secret namespaces), for scripts and debugging."""
        return {k: v for k, v in self.values.items() if k not in ("env", "secret")}

    @property
    def redactor(self) -> Redactor:
        """The process's redactor, which knows this run's secrets (and every other run's)."""
        return redaction.register(*self.secrets)
