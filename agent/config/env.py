"""`JOURNEYPROBE_*` environment overrides of `agent.yaml`, read by pydantic-settings.

`JOURNEYPROBE_<KEY>` sets a top-level key and `JOURNEYPROBE_<SECTION>_<KEY>` a key of a section
(`JOURNEYPROBE_BROWSER_EXECUTABLE_PATH` -> `browser.executable_path`): pydantic-settings' nested
delimiter `_` split at most once, so keys with underscores keep them. Names are case-insensitive;
lists and mappings are read as YAML (JSON is YAML), `null` clears a key.

pydantic-settings only reads here; the merged document is validated by `AgentConfig` in
`agent.config.loader`, so that a bad value in agent.yaml is still reported as FILE:LINE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from agent.config.models import ENV_PREFIX, AgentConfig


class AgentEnvironment(BaseSettings, AgentConfig):
    """AgentConfig's keys as pydantic-settings sees them in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="_", env_nested_max_split=1,
                                      case_sensitive=False, env_parse_none_str="null", extra="ignore")


class _Environment(EnvSettingsSource):
    """The environment source over a given mapping (the process environment, or a test's)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(AgentEnvironment)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ValueError(f"{ENV_PREFIX}{field_name.upper()}: not YAML ({problem}): {value}") from None


class EnvOverrideError(ValueError):
    """A `JOURNEYPROBE_*` value could not be read (a list or mapping that is not YAML)."""


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`JOURNEYPROBE_SERVER_TOKEN=x` -> {"server": {"token": "x"}}, unvalidated, to merge over the file."""
    from pydantic_settings import SettingsError

    try:
        return _Environment(environ)()
    except SettingsError as exc:
        cause = exc.__cause__
        raise EnvOverrideError(str(cause) if isinstance(cause, ValueError) else str(exc)) from None


def names(environ: Mapping[str, str]) -> list[str]:
    """The `JOURNEYPROBE_*` variables set, for error messages."""
    return sorted(k for k in environ if k.upper().startswith(ENV_PREFIX))
