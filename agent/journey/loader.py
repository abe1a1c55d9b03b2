"""Journey files to models: YAML with line numbers, every problem reported as `FILE:LINE: message`."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.journey.input_file import InputFileError, max_file_bytes, read_input_file
from agent.journey.model import Journey
from agent.journey.problems import Problem, YamlPath, _at, _show, translate

MAX_NODES = 200_000
_MERGE_TAG = "tag:yaml.org,2002:merge"
_EMPTY = "the file is empty: a journey needs at least name: and steps:"


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
    journey, problems = _load(path, _file_cap())
    if problems or journey is None:
        raise LoadError(problems)
    return journey


def load_journeys(paths: Sequence[str]) -> list[Journey]:
    """Every journey under the paths; LoadError lists all problems of all files."""
    limit = _file_cap()
    files, problems = _expand(paths)
    journeys: list[Journey] = []
    name_lines: dict[str, int] = {}
    for path in files:
        journey, found = _load(path, limit, name_lines)
        problems.extend(found)
        if journey is not None:
            journeys.append(journey)
    problems.extend(_duplicate_names(journeys, name_lines))
    if problems:
        order = {str(path): index for index, path in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line))
        raise LoadError(problems)
    return journeys


def key_lines(path: str) -> dict[YamlPath, int]:
    """The line of each key and list item of a journey file, by key path ({} if it does not read)."""
    try:
        text = read_input_file(Path(path), max_file_bytes()).decode("utf-8-sig")
    except (InputFileError, UnicodeDecodeError):
        return {}
    return _parse(path, text)[1]


def _file_cap() -> int:
    try:
        return max_file_bytes()
    except InputFileError as exc:
        raise LoadError([Problem("environment", 0, str(exc))]) from None


def _expand(paths: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    found: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for text in paths:
        path = Path(text)
        if path.is_dir():
            # not only regular files: a FIFO or a device named *.yaml is refused by name, not skipped
            matches = sorted(p for p in path.iterdir()
                             if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and not p.is_dir())
            reason = "no .yaml or .yml files in this directory"
        elif path.exists():
            matches, reason = [path], ""
        elif any(char in text for char in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True) if not Path(m).is_dir())
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


def _load(path: Path, limit: int,
          name_lines: dict[str, int] | None = None) -> tuple[Journey | None, list[Problem]]:
    file = str(path)
    try:
        raw = read_input_file(path, limit)
    except InputFileError as exc:
        return None, [Problem(file, 0, str(exc))]
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
        return None, sorted(problems + translate(file, exc, data, lines), key=lambda p: p.line)
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
        return None, {}, [Problem(file, 0, f"too large or too deeply nested: more than {MAX_NODES} YAML nodes "
                                  "once aliases are expanded, or nesting too deep (an alias that expands too far?)")]
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
