"""The `journeyprobe` command line: thin commands that call into the rest of the agent."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import click

from agent import __version__

if TYPE_CHECKING:
    from agent.config.models import AgentConfig

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def fail_input(message: str) -> NoReturn:
    """Bad input: say what and where on stderr, exit 2, run nothing."""
    click.echo(message, err=True)
    sys.exit(EXIT_BAD_INPUT)


def parse_vars(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            fail_input(f"--var {pair!r}: use NAME=VALUE with NAME a variable name")
        out[key] = value
    return out


def load_or_exit(paths: Sequence[str]) -> list:  # type: ignore[type-arg]
    from agent.journey.loader import LoadError, load_journeys

    try:
        return load_journeys(paths)
    except LoadError as exc:
        fail_input(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="journeyprobe")
def main() -> None:
    """journeyprobe: scripted customer journeys as SLIs, SLOs and alerts."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--junit", type=click.Path(dir_okay=False, writable=True), help="Write JUnit XML to FILE.")
@click.option("--var", "variables", multiple=True, metavar="K=V", help="Set a variable (repeatable).")
@click.option("--location", default="", help="probe.location of the results.")
@click.option("--otlp", metavar="ENDPOINT", help="Export the results over OTLP/HTTP to ENDPOINT.")
def check(paths: tuple[str, ...], as_json: bool, junit: str | None, variables: tuple[str, ...],
          location: str, otlp: str | None) -> None:
    """Run each journey once now; exit 0 if all passed, 1 if any did not, 2 on bad input."""
    from agent.cli.check import run_check

    overrides = parse_vars(variables)
    journeys = load_or_exit(paths)
    sys.exit(run_check(journeys, overrides=overrides, as_json=as_json, junit=junit, location=location,
                       otlp=otlp))


@main.command()
@click.argument("paths", nargs=-1, required=True)
def validate(paths: tuple[str, ...]) -> None:
    """Load and check journey files; print FILE:LINE: message per problem."""
    journeys = load_or_exit(paths)
    from agent.slo.advice import journey_warnings

    for warning in journey_warnings(journeys):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{len(journeys)} journeys OK")


@main.command()
def schema() -> None:
    """Print the JSON Schema of a journey file, for editors."""
    import json

    from agent.journey.schema import journey_schema

    click.echo(json.dumps(journey_schema(), indent=2))


def load_config_or_exit(path: str | None) -> AgentConfig:
    from agent.config.loader import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        fail_input(str(exc))


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="agent.yaml")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--log-level", default="info", show_default=True)
@click.argument("paths", nargs=-1)
def run(config_path: str | None, log_format: str, log_level: str, paths: tuple[str, ...]) -> None:
    """The daemon: run every journey on its interval until SIGTERM or SIGINT."""
    from agent.config.loader import ConfigError
    from agent.daemon.logs import setup_logging
    from agent.daemon.main import run_forever, serve
    from agent.journey.loader import LoadError
    from agent.store.sqlite import StoreError

    config = load_config_or_exit(config_path)
    setup_logging(log_format, log_level)
    try:
        sys.exit(run_forever(serve(config, list(paths))))
    except (LoadError, ConfigError, StoreError) as exc:
        fail_input(str(exc))


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="agent.yaml")
@click.option("--json", "as_json", is_flag=True, help="Print the /api/v1/slos list as JSON.")
def slo(config_path: str | None, as_json: bool) -> None:
    """SLO status from the store: SLI, objective, budget left, burn rates, owner, alerts."""
    from agent.cli.slo import slo_command

    config = load_config_or_exit(config_path)
    sys.exit(slo_command(config, load_or_exit(config.journeys), as_json))


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="agent.yaml")
@click.option("--format", "fmt", type=click.Choice(["prometheus", "openslo"]), default="prometheus",
              show_default=True)
@click.argument("paths", nargs=-1)
def rules(config_path: str | None, fmt: str, paths: tuple[str, ...]) -> None:
    """Prometheus recording and alerting rules (or OpenSLO documents) for every SLO."""
    from agent.slo.rules.output import rules_yaml

    config = load_config_or_exit(config_path)
    click.echo(rules_yaml(load_or_exit(list(paths) or config.journeys), fmt), nl=False)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="agent.yaml")
@click.option("--window", default="28d", show_default=True, help="The period covered, such as 7d or 28d.")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), required=True, help="HTML or Markdown.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), required=True, help="The file.")
def report(config_path: str | None, window: str, fmt: str, output: str) -> None:
    """The status page's numbers as one file (HTML or Markdown), for a monthly review."""
    from agent.core.durations import parse_duration
    from agent.web.status_page.report import write_report

    config = load_config_or_exit(config_path)
    try:
        window_s = parse_duration(window)
    except ValueError as exc:
        fail_input(f"--window: {exc}")
    journeys = load_or_exit(config.journeys)
    try:
        write_report(config, journeys, window_s, fmt, output)
    except ValueError as exc:
        fail_input(str(exc))
    click.echo(f"wrote {output}")


@main.command()
@click.option("--port", default=9464, show_default=True, help="Port of the agent's status page and API.")
@click.option("--shop-port", default=8000, show_default=True, help="Port of the demo shop (0: any free one).")
@click.option("--store", default="journeyprobe-demo.db", show_default=True, help="SQLite store of the demo.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
def demo(port: int, shop_port: int, store: str, log_format: str) -> None:
    """A demo shop with switchable faults, probed by a daemon running the example journeys."""
    from agent.config.models import AgentConfig
    from agent.daemon.logs import setup_logging
    from agent.daemon.main import demo as run_demo
    from agent.daemon.main import run_forever

    setup_logging(log_format)
    config = AgentConfig.model_validate({"location": "demo", "server": {"listen": f"127.0.0.1:{port}"},
                                         "storage": {"path": store}})
    sys.exit(run_forever(run_demo(config, shop_port)))


if __name__ == "__main__":
    main()
