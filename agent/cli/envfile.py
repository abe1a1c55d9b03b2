"""`--env-file FILE`: variables in dotenv format (python-dotenv), under the process environment.

`NAME=value` lines, `export NAME=value`, quotes, `# comments` and `${OTHER}` expansion, as
python-dotenv reads them. A variable already set in the process environment wins over the file
(as `node --env-file` and python-dotenv's `load_dotenv` do), so CI secrets override a
committed file's placeholders; with several files, a later file wins over an earlier one.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream


class EnvFileError(ValueError):
    """An env file is missing or has a line that is not `NAME=value`; str() is `FILE:LINE: message`."""


def read_env_file(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(f"{path}: no such file (--env-file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path}: cannot read the env file: {exc}") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise EnvFileError(f"{path}:{binding.original.line}: not a NAME=value line: "
                               f"{binding.original.string.strip()[:60]!r}")
    values = dotenv_values(stream=io.StringIO(text), interpolate=True)
    return {key: value for key, value in values.items() if value is not None}


def environment(env_files: Sequence[str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables journeys and config see: the files' (later ones first), then the process environment."""
    merged: dict[str, str] = {}
    for path in env_files:
        merged.update(read_env_file(path))
    merged.update(os.environ if environ is None else environ)
    return merged
