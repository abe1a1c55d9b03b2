"""The `journeyprobe` command line: thin commands that call into the rest of the agent."""

from __future__ import annotations

import sys

import click

from agent import __version__
from agent.cli.check_command import check
from agent.cli.inputs import fail_input, load_config_or_exit, load_or_exit, writable_or_exit
from agent.cli.record_command import record


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="journeyprobe")
def main() -> None:
    """journeyprobe: scripted customer journeys as SLIs, SLOs and alerts."""


main.add_command(check)
main.add_command(record)


@main.command()
@click.argument("folder", default=".")
@click.option("--url", help="The site the starter journeys probe (default: the demo shop, http://127.0.0.1:8000).")
def init(folder: str, url: str | None) -> None:
    """Start a project in FOLDER: an HTTP and a browser journey, agent.yaml and the schema for editors."""
    from pathlib import Path

    from agent.cli.init import InitError, next_steps, starter, write_starter

    if url is not None and not url.startswith(("http://", "https://")):
        fail_input(f"--url {url!r}: give an http:// or https:// address")
    project = starter(Path(folder), url)
    try:
        write_starter(project)
    except InitError as exc:
        fail_input(str(exc))
    click.echo(next_steps(project, url), nl=False)


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


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="agent.yaml")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--log-level", default="info", show_default=True)
@click.argument("paths", nargs=-1)
def run(config_path: str | None, log_format: str, log_level: str, paths: tuple[str, ...]) -> None:
    """The daemon: run every journey on its interval until SIGTERM or SIGINT."""
    from agent.config.loader import ConfigError
    from agent.daemon.logs import setup_logging
    from agent.daemon.main import PortInUseError, run_forever, serve
    from agent.journey.loader import LoadError
    from agent.store.sqlite import StoreError

    config = load_config_or_exit(config_path)
    setup_logging(log_format, log_level)
    try:
        sys.exit(run_forever(serve(config, list(paths))))
    except (LoadError, ConfigError, StoreError, PortInUseError) as exc:
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
@click.option("--output", required=True, help="The file.")
def report(config_path: str | None, window: str, fmt: str, output: str) -> None:
    """The status page's numbers as one file (HTML or Markdown), for a monthly review."""
    from agent.core.durations import parse_duration
    from agent.web.status_page.report import write_report

    config = load_config_or_exit(config_path)
    writable_or_exit("--output", output)
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
@click.option("--port", default=9464, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the agent's status page and API (0: any free one).")
@click.option("--shop-port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the demo shop (0: any free one).")
@click.option("--store", default="journeyprobe-demo.db", show_default=True, help="SQLite store of the demo.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def demo(port: int, shop_port: int, store: str, log_format: str) -> None:
    """A demo shop with switchable faults, probed by a daemon running the example journeys."""
    from agent.config.models import AgentConfig
    from agent.daemon.logs import setup_logging
    from agent.daemon.main import PortInUseError, run_forever
    from agent.daemon.main import demo as run_demo

    setup_logging(log_format)
    config = AgentConfig.model_validate({"location": "demo", "server": {"listen": f"127.0.0.1:{port}"},
                                         "storage": {"path": store}})
    try:
        sys.exit(run_forever(run_demo(config, shop_port)))
    except PortInUseError as exc:
        fail_input(str(exc))


if __name__ == "__main__":
    main()
