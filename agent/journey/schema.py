"""JSON Schema of a journey file, for editors; and the keys each mapping of the file allows."""

from __future__ import annotations

import contextvars
import types
import typing
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel

from agent.journey.browser_model import ACTIONS, _short_forms
from agent.journey.model import HttpRequest, Journey

SCHEMA_ID = "https://journeyprobe.dev/schema/journey.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def journey_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one journey file, keys as users write them."""
    body = Journey.model_json_schema(by_alias=True, mode="validation")
    _move_bounds(body)
    defs = body.get("$defs", {})
    if "BrowserAction" in defs:
        _allow_short_forms(defs["BrowserAction"])
    if "HttpRequest" in defs:
        _any_case_methods(defs["HttpRequest"])
    body.pop("title", None)
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "journeyprobe journey",
        "description": "One scripted customer journey: HTTP, browser and script steps, and its SLOs.",
        **body,
    }


def _move_bounds(node: Any) -> None:
    """Pydantic leaves `gt: 0` beside a WithJsonSchema union; make it a bound of the number branch."""
    if isinstance(node, list):
        for item in node:
            _move_bounds(item)
        return
    if not isinstance(node, dict):
        return
    bounds = {key: node.pop(key) for key in list(node) if key in _BOUNDS and "anyOf" in node}
    for branch in node.get("anyOf", ()) if bounds else ():
        if branch.get("type") in ("number", "integer"):
            for key, limit in bounds.items():
                if key in ("gt", "ge"):  # the field's bound is the stricter one
                    branch.pop("minimum", None)
                    branch.pop("exclusiveMinimum", None)
                branch[_BOUNDS[key]] = limit
    for value in node.values():
        _move_bounds(value)


def _allow_short_forms(action: dict[str, Any]) -> None:
    """`click: "#pay"` is short for `click: {selector: "#pay"}`: let strings through where they are."""
    for name in ACTIONS:
        expanded = _short_forms({name: "x"})
        prop = action.get("properties", {}).get(name)
        if prop is None or not isinstance(expanded, dict) or not isinstance(expanded.get(name), dict):
            continue
        field = next(iter(expanded[name]))
        members = prop.pop("anyOf", None) or [{key: prop.pop(key) for key in list(prop) if key == "$ref"}]
        prop["anyOf"] = [{"type": "string", "description": f"short for {{{field}: ...}}"}, *members]


def _any_case_methods(request: dict[str, Any]) -> None:
    """The loader upper-cases `method`, so `post` is as good as `POST`."""
    method = request.get("properties", {}).get("method", {})
    methods = list(get_args(HttpRequest.model_fields["method"].annotation))
    if "enum" in method:
        method["enum"] = methods + [m.lower() for m in methods]


ROOT_MODEL: contextvars.ContextVar[Any] = contextvars.ContextVar("root_model", default=Journey)


def keys_at(path: Sequence[Any]) -> dict[str, str]:
    """The keys allowed in the mapping at a path (keys, list indexes) of a file, to field names.

    The file is a journey unless `ROOT_MODEL` says otherwise (the agent config, say)."""
    kinds: list[Any] = [ROOT_MODEL.get()]
    for part in path:
        kinds = [child for kind in kinds for child in _children(kind, part)]
    return {field.alias or name: name for kind in kinds for member in _members(kind) if _is_model(member)
            for name, field in member.model_fields.items()}


def _members(kind: Any) -> list[Any]:
    """The types a value of this annotation may have: unions and Annotated unwrapped."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        return _members(args[0])
    if origin in (typing.Union, types.UnionType):
        return [member for arg in args for member in _members(arg)]
    return [kind]


def _children(kind: Any, part: Any) -> list[Any]:
    if len(_members(kind)) > 1 or typing.get_origin(kind) is typing.Annotated:
        return [child for member in _members(kind) for child in _children(member, part)]
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if _is_model(kind):
        return [field.annotation for name, field in kind.model_fields.items() if part in (name, field.alias)]
    if origin is list and isinstance(part, int):
        return [args[0]]
    if origin is dict and args:
        return [args[1]]
    return []


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)
