"""Reading `agent.yaml`: YAML with FILE:LINE errors, then `JOURNEYPROBE_*` environment overrides.

The environment wins over the file (agent.config.env). Relative `journeys:` globs written in the
file are taken from the file's folder, as Prometheus and Gatus do with theirs; globs given in
`JOURNEYPROBE_JOURNEYS` stay relative to the working folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ValidationError

from agent.config.env import EnvOverrideError, env_overrides, names
from agent.config.models import ENV_PREFIX, AgentConfig, merge
from agent.journey.input_file import InputFileError, max_file_bytes, read_input_file
from agent.journey.loader import _parse
from agent.journey.problems import Problem, translate
from agent.journey.schema import ROOT_MODEL


class ConfigError(ValueError):
    """The agent config is unusable; str() lists every problem as FILE:LINE: message."""


def load_config(path: str | None, environ: Mapping[str, str] | None = None) -> AgentConfig:
    environ = os.environ if environ is None else environ
    data: dict[str, object] = {}
    lines: dict[tuple[object, ...], int] = {}
    file = path or "agent.yaml"
    if path is not None:
        data, lines = _read(path, environ)
        data = _journeys_from_folder(data, Path(path).parent)
    try:
        overrides = env_overrides(environ)
    except EnvOverrideError as exc:
        raise ConfigError(f"environment: {exc}") from None
    merged = merge(data, overrides)
    token = ROOT_MODEL.set(AgentConfig)
    try:
        return AgentConfig.model_validate(merged, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise ConfigError("\n".join(str(p) for p in _problems(file, exc, merged, lines, overrides, environ))) from None
    finally:
        ROOT_MODEL.reset(token)


def _problems(file: str, exc: ValidationError, merged: dict[str, object], lines: dict[tuple[object, ...], int],
              overrides: Mapping[str, object], environ: Mapping[str, str]) -> list[Problem]:
    """FILE:LINE for what the file says, the variable's name for what the environment says."""
    markers: dict[str, int] = {}  # variable -> a line no file has, to find its problems again
    env_lines: dict[tuple[object, ...], int] = {}
    for path, name in _paths(overrides):
        marker = markers.setdefault(name, -1 - len(markers))
        if len(path) > 1 or path not in lines:  # a section the file has keeps its line
            env_lines[path] = marker
    variables = {marker: name for name, marker in markers.items()}
    found = translate(file, exc, merged, {**lines, **env_lines})
    problems = sorted((Problem(variables[p.line], 0, p.message) if p.line in variables else p for p in found),
                      key=lambda p: (p.line <= 0, p.line))
    if overrides and all(p.line > 0 for p in problems):
        problems.append(Problem(file, 0, "note: JOURNEYPROBE_* environment variables also apply: "
                                + ", ".join(names(environ))))
    return problems


def _paths(values: Mapping[str, object], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(key path, variable) of every key the environment set, and of every key inside its values."""
    out: list[tuple[tuple[str, ...], str]] = []
    for key, value in values.items():
        path = (*prefix, key)
        section = not prefix and isinstance(AgentConfig.model_fields[key].default, BaseModel)
        out.append((path, ENV_PREFIX + "_".join(path[:2]).upper() + ("_*" if section else "")))
        if isinstance(value, dict):
            out.extend(_paths(value, path))
    return out


def _read(path: str, environ: Mapping[str, str]) -> tuple[dict[str, object], dict[tuple[object, ...], int]]:
    try:
        text = read_input_file(Path(path), max_file_bytes(environ)).decode("utf-8-sig")
    except InputFileError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read the config: not UTF-8 text ({exc.reason})") from None
    parsed, lines, problems = _parse(path, text)
    if problems and parsed is None and not text.strip():
        parsed, problems = {}, []
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))
    if not isinstance(parsed, dict):
        raise ConfigError(f"{path}:1: the config is a mapping of keys such as location: and server:")
    return parsed, lines


def _journeys_from_folder(data: dict[str, object], folder: Path) -> dict[str, object]:
    globs = data.get("journeys")
    if isinstance(globs, str):
        globs = [globs]
    if not isinstance(globs, list) or folder == Path("."):
        return data
    resolved = [str(folder / g) if isinstance(g, str) and g and not os.path.isabs(os.path.expanduser(g))
                else g for g in globs]
    return {**data, "journeys": resolved}
