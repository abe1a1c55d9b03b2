"""Which environment variables a journey needs: every `env.NAME` and `secret.NAME` its templates read.

Found in the templates' syntax trees (Jinja2's parser), before anything runs, so that a missing
variable is reported as bad input instead of failing each run as if the target were down. A
reference is optional when it sits under a `default` filter or is tested with `is defined`
anywhere in its template; `env.get('X')` and computed keys (`env[name]`) cannot be known here.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agent.journey.model import Journey

NAMESPACES = ("env", "secret")
_OPTIONAL_FILTERS = frozenset({"default", "d"})
_OPTIONAL_TESTS = frozenset({"defined", "undefined"})
_PARSER = ImmutableSandboxedEnvironment()


@dataclass(frozen=True, order=True)
class EnvReference:
    """`{{ secret.SHOP_PW }}` -> EnvReference("secret", "SHOP_PW")."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}"


def required_environment(journey: Journey, overrides: Mapping[str, str] | None = None) -> frozenset[EnvReference]:
    """The variables the journey cannot run without; variables given by `overrides` (--var) are not rendered."""
    overrides = overrides or {}
    if not overrides:
        return _cached(journey)
    return _scan(journey, frozenset(overrides))


def missing_environment(journey: Journey, environ: Mapping[str, str],
                        overrides: Mapping[str, str] | None = None) -> list[EnvReference]:
    return sorted(ref for ref in required_environment(journey, overrides) if ref.name not in environ)


_BY_JOURNEY: dict[int, frozenset[EnvReference]] = {}


def _cached(journey: Journey) -> frozenset[EnvReference]:
    """Journeys are frozen: scanned once each (the daemon asks on every run)."""
    key = id(journey)
    found = _BY_JOURNEY.get(key)
    if found is None:
        found = _BY_JOURNEY[key] = _scan(journey, frozenset())
        weakref.finalize(journey, _BY_JOURNEY.pop, key, None)
    return found


def _scan(journey: Journey, skipped_variables: frozenset[str]) -> frozenset[EnvReference]:
    found: set[EnvReference] = set()
    for name, template in journey.variables.items():
        if name not in skipped_variables:
            found |= template_references(template)
    for step in journey.steps:
        for text in _strings(step.model_dump(mode="python", by_alias=True, exclude={"name", "expect", "extract"})):
            found |= template_references(text)
    return frozenset(found)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


@lru_cache(maxsize=4096)
def template_references(source: str) -> frozenset[EnvReference]:
    """The env./secret. names one template needs (empty for plain text or a template that does not parse)."""
    if not any(f"{ns}" in source for ns in NAMESPACES) or ("{{" not in source and "{%" not in source):
        return frozenset()
    try:
        tree = _PARSER.parse(source)
    except TemplateSyntaxError:
        return frozenset()  # reported when the step renders it
    tested = {ref for node in tree.find_all(nodes.Test) if node.name in _OPTIONAL_TESTS
              for ref in _refs_in(node.node)}
    return frozenset(ref for ref in _required(tree, optional=False) if ref not in tested)


def _required(node: nodes.Node, optional: bool) -> Iterator[EnvReference]:
    if isinstance(node, nodes.Filter) and node.name in _OPTIONAL_FILTERS:
        if node.node is not None:
            yield from _required(node.node, optional=True)
        for argument in (*node.args, *(k.value for k in node.kwargs)):
            yield from _required(argument, optional)
        return
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        owner = node.node.node  # env.get('X') calls a method of the mapping: no variable called `get`
        if not (isinstance(owner, nodes.Name) and owner.name in NAMESPACES):
            yield from _required(owner, optional)
        for argument in (*node.args, *(k.value for k in node.kwargs)):
            yield from _required(argument, optional)
        return
    ref = _reference(node)
    if ref is not None:
        if not optional:
            yield ref
        return
    for child in node.iter_child_nodes():
        yield from _required(child, optional)


def _refs_in(node: nodes.Node) -> Iterator[EnvReference]:
    ref = _reference(node)
    if ref is not None:
        yield ref
    for child in node.iter_child_nodes():
        yield from _refs_in(child)


def _reference(node: nodes.Node) -> EnvReference | None:
    """`env.NAME` or `env['NAME']`."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name) and node.node.name in NAMESPACES:
        return EnvReference(node.node.name, node.attr)
    if (isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name) and node.node.name in NAMESPACES
            and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)):
        return EnvReference(node.node.name, node.arg.value)
    return None
