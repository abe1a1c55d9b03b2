"""Pydantic ValidationErrors of a YAML file as readable `FILE:LINE: message` problems."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agent.core.durations import format_duration, parse_duration
from agent.journey.browser_model import ACTIONS
from agent.journey.model import NAME_PATTERN
from agent.journey.schema import keys_at

YamlPath = tuple[Any, ...]
"""Mapping keys and list indexes from the top of a file down to a value."""

_TYPE_WORDS = {"string_type": "a string", "dict_type": "a mapping", "model_type": "a mapping",
               "model_attributes_type": "a mapping", "list_type": "a list", "int_type": "a whole number",
               "int_parsing": "a whole number", "int_from_float": "a whole number", "float_type": "a number",
               "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false"}
_MISMATCH = {*_TYPE_WORDS, "literal_error"}  # the value is not even of the right kind
_LIMITS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
           "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}
_PATTERN_HINTS = {
    NAME_PATTERN: "use lower case letters, digits, '_', '.' and '-', starting with a letter or digit",
    r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$": "write module.path:function, such as journeys_ext.shop:verify",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, at a 1-based line (0: the file as a whole)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.message}"


# --- pydantic errors to problems -----------------------------------------------------------------

@dataclass
class _Error:
    detail: Any  # pydantic's ErrorDetails
    path: YamlPath  # deepest key or item of the file the error is about
    union: YamlPath | None  # where pydantic tried the members of a union, if it did
    key: Any = None  # the missing key, for `missing`


def translate(file: str, exc: ValidationError, data: Any, lines: dict[YamlPath, int]) -> list[Problem]:
    errors = [_locate(detail, lines) for detail in exc.errors(include_url=False)]
    problems: list[Problem] = []
    for error in _prefer_branches(errors, data):
        line_path, shown, text = _describe(error, data, lines)
        problem = Problem(file, lines.get(line_path, 1), _at(shown, text))
        if problem not in problems:
            problems.append(problem)
    return problems


def _locate(detail: Any, lines: dict[YamlPath, int]) -> _Error:
    """Map pydantic's loc (aliases, union tags like 'literal[...]') to the deepest known key path."""
    loc = tuple(detail["loc"])
    key = None
    if detail["type"] == "missing" and loc:
        loc, key = loc[:-1], loc[-1]
    path: YamlPath = ()
    union: YamlPath | None = None
    for part in loc:
        if (*path, part) in lines:
            path = (*path, part)
        elif union is None:
            union = path
    return _Error(detail, path, union, key)


def _prefer_branches(errors: list[_Error], data: Any) -> list[_Error]:
    """Of a union's failed members keep those that got past the type check, else merge them."""
    out = [error for error in errors if error.union is None]
    groups: dict[YamlPath, list[_Error]] = {}
    for error in errors:
        if error.union is not None:
            groups.setdefault(error.union, []).append(error)
    for union, members in groups.items():
        specific = [e for e in members if e.detail["type"] not in _MISMATCH]
        if specific or len(members) == 1:
            out.extend(specific or members)
            continue
        wanted = dict.fromkeys(str(e.detail["ctx"]["expected"]) if e.detail["type"] == "literal_error"
                               else _TYPE_WORDS[e.detail["type"]] for e in members)
        text = f"expected {' or '.join(wanted)}, got {_show(_get(data, union))}"
        out.append(_Error({"type": "value_error", "msg": text, "loc": ()}, union, None))
    return out


def _describe(error: _Error, data: Any, lines: dict[YamlPath, int]) -> tuple[YamlPath, YamlPath, str]:
    """(path whose line to report, path to show, message) of one error."""
    detail, path, kind = error.detail, error.path, str(error.detail["type"])
    ctx = detail.get("ctx") or {}
    value = detail.get("input")
    if kind == "missing":
        return path, path, f"missing required key {_show(error.key)}"
    if kind == "extra_forbidden" and path:
        return path, path[:-1], f"unknown key {_show(path[-1])}{_suggest(path[-1], path[:-1])}"
    if tuple(detail["loc"])[-1:] == ("[key]",):
        return path, path[:-1], f"key {_show(path[-1] if path else value)} must be a string"
    if kind in ("value_error", "assertion_error"):
        text = re.sub(r"^(Value error|Assertion failed), ", "", str(detail["msg"]))
        return _blame(path, text, data, lines), path, text
    if kind in _TYPE_WORDS:
        quote = kind == "string_type" and isinstance(value, (bool, int, float))
        hint = " (quote it to make it a string)" if quote else ""
        return path, path, f"expected {_TYPE_WORDS[kind]}, got {_show(value)}{hint}"
    if kind == "literal_error":
        return path, path, f"expected {ctx.get('expected')}, got {_show(value)}"
    if kind in _LIMITS:
        name, words = _LIMITS[kind]
        limit, raw = ctx.get(name), _get(data, path)
        if isinstance(raw, str) and _is_duration(raw) and isinstance(limit, (int, float)):
            return path, path, f"must be {words} {format_duration(limit) if limit else 0}, got {raw}"
        return path, path, f"must be {words} {limit}, got {_show(raw)}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        hint = _PATTERN_HINTS.get(pattern, f"it must match {pattern}")
        return path, path, f"{_show(value)} is not allowed here: {hint}"
    if kind in ("string_too_short", "too_short"):
        least = ctx.get("min_length", 1)
        return path, path, "must not be empty" if least == 1 else f"needs at least {least} items"
    if kind in ("string_too_long", "too_long"):
        unit = "characters long" if kind.startswith("string") else "items"
        return path, path, f"must be at most {ctx.get('max_length')} {unit}"
    return path, path, str(detail["msg"]).replace("Input should be", "must be")


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def _suggest(key: Any, parent: YamlPath) -> str:
    """`, did you mean 'retry'?` or the keys this mapping allows."""
    fields = keys_at(parent)  # key -> Python name
    if not fields:
        return ""
    renamed = {name: alias for alias, name in fields.items() if alias != name}
    close = [renamed[key]] if key in renamed else difflib.get_close_matches(str(key), fields, n=1)
    return f", did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(sorted(fields))})"


# Model-level rules name no key: (fragment of the message, how to find the key, keys).
_BLAME: list[tuple[str, str, tuple[str, ...]]] = [
    ("step names must be unique", "repeated name", ("steps",)),
    ("SLO names must be unique", "repeated name", ("slos",)),
    ("must not exceed interval", "key", ("timeout",)),
    ("give at most one of json, body and form", "second", ("json", "body", "form")),
    ("a step needs exactly one of http, browser or script", "second", ("http", "browser", "script")),
    ("expect applies to http steps", "key", ("expect",)),
    ("a browser action needs exactly one of", "second", ACTIONS),
]


def _blame(path: YamlPath, text: str, data: Any, lines: dict[YamlPath, int]) -> YamlPath:
    """The key a value error is about: by rule, else a quoted key of the mapping or of one in it."""
    mapping = _get(data, path)
    if not isinstance(mapping, dict):
        return path
    for fragment, how, keys in _BLAME:
        if fragment not in text:
            continue
        given = [key for key in mapping if key in keys]  # in the order written
        if how == "key" and given:
            return (*path, given[0])
        if how == "second" and len(given) > 1:
            return (*path, given[1])
        names = [item.get("name") if isinstance(item, dict) else None for item in mapping.get(keys[0]) or ()]
        again = [index for index, name in enumerate(names) if name in names[:index]]
        if how == "repeated name" and again and (*path, keys[0], again[0], "name") in lines:
            return (*path, keys[0], again[0], "name")
    scopes = [path, *[(*path, key) for key, value in mapping.items() if isinstance(value, dict)]]
    for scope in scopes:
        for key in _get(data, scope):
            if isinstance(key, str) and repr(key) in text and (*scope, key) in lines:
                return (*scope, key)
    return path


def _get(data: Any, path: YamlPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _at(path: YamlPath, text: str) -> str:
    """`steps[0].http: text`, or the text alone at the top of the file."""
    shown = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            shown += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[\w-]+", part):
            shown += f".{part}" if shown else part
        else:
            shown += f"[{part!r}]"
    return f"{shown}: {text}" if shown else text


def _show(value: Any) -> str:
    """A value as a user wrote it in YAML, briefly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
