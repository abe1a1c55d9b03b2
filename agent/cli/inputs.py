"""What every command does with bad input: one clear line on stderr, exit 2, nothing run or written."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from agent.config.models import AgentConfig
    from agent.journey.model import Journey

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def fail_input(message: str) -> NoReturn:
    """Bad input: say what and where on stderr, exit 2, run nothing."""
    click.echo(message, err=True)
    sys.exit(EXIT_BAD_INPUT)


def parse_pairs(option: str, pairs: Sequence[str], *, identifier: bool = True) -> dict[str, str]:
    """`K=V` options (`--var`, `--label`) as a dict; a malformed one is bad input."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or (identifier and not key.isidentifier()):
            fail_input(f"{option} {pair!r}: use NAME=VALUE with NAME a {'variable' if identifier else 'label'} name")
        out[key] = value
    return out


def parse_vars(pairs: Sequence[str]) -> dict[str, str]:
    return parse_pairs("--var", pairs)


def load_or_exit(paths: Sequence[str]) -> list[Journey]:
    from agent.journey.loader import LoadError, load_journeys

    try:
        return load_journeys(paths)
    except LoadError as exc:
        fail_input(str(exc))


def load_config_or_exit(path: str | None, environ: Mapping[str, str] | None = None) -> AgentConfig:
    from agent.config.loader import ConfigError, load_config

    try:
        return load_config(path, environ)
    except ConfigError as exc:
        fail_input(str(exc))


def writable_or_exit(option: str, path: str) -> None:
    """Before anything runs: the file of an output option can be written (its folder exists, is writable)."""
    target = Path(path)
    folder = target.parent
    problem = None
    if target.is_dir():
        problem = "that is a folder; give a file name"
    elif not folder.is_dir():
        problem = f"the folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder"
    elif target.exists() and not os.access(target, os.W_OK):
        problem = "the file is not writable"
    elif not target.exists() and not os.access(folder, os.W_OK | os.X_OK):
        problem = f"the folder {folder} is not writable"
    if problem:
        fail_input(f"{option} {path}: cannot write there: {problem}")


def write_or_exit(option: str, path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail_input(f"{option} {path}: cannot write there: {exc.strerror or exc}")
