"""Reading `agent.yaml`: YAML with FILE:LINE errors, then `JOURNEYPROBE_*` environment overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from agent.config.models import AgentConfig, env_overrides, merge
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
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc}") from None
        parsed, lines, problems = _parse(path, text)
        if problems and parsed is None and not text.strip():
            parsed, problems = {}, []
        if problems:
            raise ConfigError("\n".join(str(p) for p in problems))
        if not isinstance(parsed, dict):
            raise ConfigError(f"{path}:1: the config is a mapping of keys such as location: and server:")
        data = parsed
    overrides = env_overrides(environ)
    merged = merge(data, overrides)
    token = ROOT_MODEL.set(AgentConfig)
    try:
        return AgentConfig.model_validate(merged, by_alias=True, by_name=False)
    except ValidationError as exc:
        problems = sorted(translate(file, exc, merged, lines), key=lambda p: p.line)
        if overrides:
            problems.append(Problem(file, 0, "note: JOURNEYPROBE_* environment variables also apply: "
                                    + ", ".join(sorted(k for k in environ if k.startswith("JOURNEYPROBE_")))))
        raise ConfigError("\n".join(str(p) for p in problems)) from None
    finally:
        ROOT_MODEL.reset(token)
