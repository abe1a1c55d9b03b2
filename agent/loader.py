"""Journey files to models: YAML with line numbers, every problem reported as `FILE:LINE: message`."""

from __future__ import annotations

import difflib
import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.durations import format_duration, parse_duration
from agent.model import NAME_PATTERN, Journey
from agent.model_browser import ACTIONS
from agent.schema import keys_at

YamlPath = tuple[Any, ...]
"""Mapping keys and list indexes from the top of a file down to a value."""

MAX_NODES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
_EMPTY = "the file is empty: a journey needs at least name: and steps:"
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


class LoadError(Exception):
    """Journey files could not be loaded; `problems` lists every reason at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Files, directories (their *.yaml and *.yml, sorted) and globs, without repeats."""
    found, problems = _expand(paths)
    if problems:
        raise LoadError(problems)
    return found


def load_journey_file(path: Path) -> Journey:
    """One journey from one file; LoadError lists all that is wrong with it."""
    journey, problems = _load(path)
    if problems or journey is None:
        raise LoadError(problems)
    return journey


def load_journeys(paths: Sequence[str]) -> list[Journey]:
    """Every journey under the paths; LoadError lists all problems of all files."""
    files, problems = _expand(paths)
    journeys: list[Journey] = []
    name_lines: dict[str, int] = {}
    for path in files:
        journey, found = _load(path, name_lines)
        problems.extend(found)
        if journey is not None:
            journeys.append(journey)
    problems.extend(_duplicate_names(journeys, name_lines))
    if problems:
        order = {str(path): index for index, path in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line))
        raise LoadError(problems)
    return journeys


def _expand(paths: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    found: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for text in paths:
        path = Path(text)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir()
                             if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file())
            reason = "no .yaml or .yml files in this directory"
        elif path.exists():
            matches, reason = [path], ""
        elif any(char in text for char in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if Path(m).is_file())
            reason = "no file matches this pattern"
        else:
            matches, reason = [], "no such file or directory"
        if not matches:
            problems.append(Problem(text, 0, reason))
        for match in matches:
            if match.resolve() not in seen:
                seen.add(match.resolve())
                found.append(match)
    return found, problems


def _duplicate_names(journeys: list[Journey], name_lines: dict[str, int]) -> list[Problem]:
    by_name: dict[str, list[str]] = {}
    for journey in journeys:
        by_name.setdefault(journey.name, []).append(journey.source or "")
    problems = []
    for name, files in by_name.items():
        for file in files if len(files) > 1 else ():
            others = ", ".join(other for other in files if other != file)
            problems.append(Problem(file, name_lines.get(file, 0),
                                    f"journey name {name!r} is also used in {others}"))
    return problems


def _load(path: Path, name_lines: dict[str, int] | None = None) -> tuple[Journey | None, list[Problem]]:
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(file, 0, f"cannot read the file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, raw[:exc.start].count(b"\n") + 1, "not UTF-8 text")]
    data, lines, problems = _parse(file, text)
    if problems and data is None:
        return None, problems
    if not isinstance(data, dict):
        return None, [*problems, Problem(file, lines.get((), 1), "a journey file holds one mapping "
                                         f"with keys such as name: and steps:, not {_show(data)}")]
    if name_lines is not None and ("name",) in lines:
        name_lines[file] = lines[("name",)]
    try:
        journey = Journey.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        return None, sorted(problems + _translate(file, exc, data, lines), key=lambda p: p.line)
    if problems:
        return None, problems
    journey._source = file
    return journey, []


# --- YAML with lines ---------------------------------------------------------------------------

class _TooLarge(Exception):
    pass


def _walk(node: yaml.Node, path: YamlPath, loader: yaml.SafeLoader, found: _Found) -> None:
    """Note the line of every key and list item under a node, and its duplicate keys."""
    found.count += 1
    if found.count > MAX_NODES:  # an alias bomb, or an alias of its own parent
        raise _TooLarge
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = loader.construct_object(key_node), key_node.start_mark.line + 1
            if key in first:
                found.problems.append(Problem(found.file, line, _at(
                    path, f"duplicate key {_show(key)} (first on line {first[key]})")))
            first.setdefault(key, line)
            found.lines[(*path, key)] = line
            _walk(value_node, (*path, key), loader, found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), loader, found)


@dataclass
class _Found:
    file: str
    lines: dict[YamlPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    count: int = 0


def _parse(file: str, text: str) -> tuple[Any, dict[YamlPath, int], list[Problem]]:
    """The data of a YAML document, the line of each key path, and duplicate keys."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}, [Problem(file, 1, _EMPTY)]
        found = _Found(file, {(): node.start_mark.line + 1})
        _walk(node, (), loader, found)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, {}, [Problem(file, mark.line + 1 if mark else 0, _yaml_message(exc))]
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        return None, {}, [Problem(file, line, f"invalid YAML: character #x{exc.character:04x} not allowed")]
    except (_TooLarge, RecursionError):
        return None, {}, [Problem(file, 0, "too large or too deeply nested (an alias that expands too far?)")]
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        return None, {}, [Problem(file, 1, _EMPTY)]
    return data, found.lines, found.problems


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    if exc.problem == "but found another document":
        return "invalid YAML: one journey per file, but found a second document (---)"
    context = exc.context
    if context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
        context += f" (from line {exc.context_mark.line + 1})"
    return "invalid YAML: " + ", ".join(part for part in (context, exc.problem) if part)


# --- pydantic errors to problems -----------------------------------------------------------------

@dataclass
class _Error:
    detail: Any  # pydantic's ErrorDetails
    path: YamlPath  # deepest key or item of the file the error is about
    union: YamlPath | None  # where pydantic tried the members of a union, if it did
    key: Any = None  # the missing key, for `missing`


def _translate(file: str, exc: ValidationError, data: Any, lines: dict[YamlPath, int]) -> list[Problem]:
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
