"""The `check` command's options, turned into a run: every input is checked before anything runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.cli.inputs import fail_input, load_config_or_exit, load_or_exit, parse_pairs, parse_vars, writable_or_exit

if TYPE_CHECKING:
    from agent.journey.model import Journey


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="agent.yaml: its journeys (when no PATH is given), location, browser and probe settings.")
@click.option("--grep", "-g", metavar="PATTERN", help="Run only journeys whose name matches (a regular expression).")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
              help="Run only journeys with this label (repeatable: all must match).")
@click.option("--env-file", "env_files", multiple=True, metavar="FILE",
              help="Read variables from a dotenv file (repeatable); the environment wins over it.")
@click.option("--var", "variables", multiple=True, metavar="K=V", help="Set a variable (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--junit", metavar="FILE", help="Write JUnit XML to FILE.")
@click.option("--github/--no-github", default=None,
              help="GitHub Actions annotations (default: on when GITHUB_ACTIONS=true).")
@click.option("--reporter", type=click.Choice(["github"]), multiple=True,
              help="--reporter github: the same as --github.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show what runs while it runs (live on a terminal, plain lines otherwise).")
@click.option("--location", default=None, help="probe.location of the results (default: the config's, else none).")
@click.option("--otlp", metavar="ENDPOINT", help="Export the results over OTLP/HTTP to ENDPOINT.")
def check(paths: tuple[str, ...], config_path: str | None, grep: str | None, labels: tuple[str, ...],
          env_files: tuple[str, ...], variables: tuple[str, ...], as_json: bool, junit: str | None,
          github: bool | None, reporter: tuple[str, ...], progress: bool, location: str | None,
          otlp: str | None) -> None:
    """Run each journey once now; exit 0 if all passed, 1 if any did not, 2 on bad input (nothing runs).

    PATH is a journey file, a folder or a glob; without one, the journeys of agent.yaml's `journeys:`.
    """
    from agent.cli.check import CheckOptions, run_check
    from agent.cli.envfile import EnvFileError, environment
    from agent.cli.github import enabled
    from agent.cli.select import SelectionError, select
    from agent.config.models import ENV_PREFIX
    from agent.probe.context import DEFAULT_USER_AGENT, ProbeSettings

    try:
        environ = environment(env_files)
    except EnvFileError as exc:
        fail_input(str(exc))
    config = load_config_or_exit(config_path, environ)
    overrides = parse_vars(variables)
    wanted_labels = parse_pairs("--label", labels, identifier=False)
    if junit:
        writable_or_exit("--junit", junit)
    journeys = load_or_exit(list(paths) or config.journeys)
    try:
        journeys = select(journeys, grep, wanted_labels)
    except SelectionError as exc:
        fail_input(str(exc))
    _exit_if_unset(journeys, environ, overrides)
    if location is None:
        location = config.location if config_path or f"{ENV_PREFIX}LOCATION" in environ else ""
    settings = ProbeSettings(location=location, user_agent=config.probe.user_agent or DEFAULT_USER_AGENT,
                             tracestate=config.probe.tracestate, artifacts_dir=Path(config.artifacts))
    options = CheckOptions(settings=settings, browser=config.browser, environ=environ, overrides=overrides,
                           as_json=as_json, junit=junit, github=enabled(True if reporter else github, environ),
                           progress=progress, otlp=otlp)
    sys.exit(run_check(journeys, options))


def _exit_if_unset(journeys: list[Journey], environ: dict[str, str], overrides: dict[str, str]) -> None:
    """A variable a journey reads from the environment is not set: bad input, one line per journey."""
    from agent.journey.env_refs import missing_environment
    from agent.journey.loader import key_lines

    problems = []
    for journey in journeys:
        missing = missing_environment(journey, environ, overrides)
        if not missing:
            continue
        where = journey.source or journey.name
        lines = key_lines(journey.source) if journey.source else {}
        line = _first_line_reading(journey.source, missing[0].name) or lines.get(("name",))
        names = ", ".join(r.name for r in missing)
        problems.append(f"{where}{f':{line}' if line else ''}: journey {journey.name!r} reads "
                        f"{', '.join(map(str, missing))}, but {names} {'is' if len(missing) == 1 else 'are'} not set "
                        "(export it, put it in an --env-file, or give a default: | default('...'))")
    if problems:
        fail_input("\n".join(problems))


def _first_line_reading(source: str | None, name: str) -> int | None:
    if not source:
        return None
    try:
        text = Path(source).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    return next((number for number, line in enumerate(text.splitlines(), 1) if name in line
                 and not line.lstrip().startswith("#")), None)
