"""The `record` command: check the inputs, record, validate what was recorded, write it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from agent.cli.inputs import EXIT_BAD_INPUT, fail_input, load_config_or_exit, writable_or_exit


@click.command()
@click.argument("url")
@click.option("-o", "--output", metavar="FILE", help="Write the journey to FILE (default: print it).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--name", help="The journey's name (default: from FILE, else from the URL).")
@click.option("--headless", is_flag=True, help="No window: the page is driven through --devtools-port.")
@click.option("--devtools-port", type=click.IntRange(1, 65535), metavar="PORT",
              help="Open Chromium's DevTools protocol on 127.0.0.1:PORT (chrome://inspect, or a script).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="agent.yaml, for its browser settings (JOURNEYPROBE_* variables apply too).")
@click.option("--max-duration", default="1h", show_default=True, help="Stop recording after this long.")
def record(url: str, output: str | None, force: bool, name: str | None, headless: bool, devtools_port: int | None,
           config_path: str | None, max_duration: str) -> None:
    """Record a flow clicked through in Chromium as a journey with browser steps.

    Passwords and other secret fields become {{ secret.NAME }} variables, never their values.
    Stop by closing the window or with Ctrl-C.
    """
    import asyncio

    from agent.cli.record import RecordError, RecordOptions, display_problem, schema_reference
    from agent.cli.record import record as run_recording
    from agent.cli.record_journey import journey_name
    from agent.core.durations import parse_duration

    if not url.startswith(("http://", "https://")):
        fail_input(f"{url!r}: give the http:// or https:// address of the page to start on")
    try:
        max_duration_s = parse_duration(max_duration)
    except ValueError as exc:
        fail_input(f"--max-duration: {exc}")
    if output:
        writable_or_exit("-o", output)
        if Path(output).exists() and not force:
            fail_input(f"{output} already exists: record never replaces a file unless --force is given")
    problem = display_problem(headless, os.environ)
    if problem:
        fail_input(problem)
    config = load_config_or_exit(config_path)
    journey = name or journey_name(output, url)
    options = RecordOptions(url=url, browser=config.browser.model_copy(update={"headless": headless}),
                            devtools_port=devtools_port, max_duration_s=max_duration_s,
                            announce=lambda text: click.echo(text, err=True))
    try:
        recording = asyncio.run(run_recording(options))
    except RecordError as exc:
        fail_input(str(exc))
    text = recording.yaml_text(journey, schema_reference(Path(output)) if output else None)
    _check_recorded(text)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        secrets = " ".join(f"{env}=..." for env in sorted(recording.secrets.values()))
        click.echo(f"wrote {output}: {recording.action_count} actions in {len(recording.steps)} steps; "
                   f"run it: {secrets + ' ' if secrets else ''}journeyprobe check {output}", err=True)
    else:
        click.echo(text, nl=False)
    for note in recording.notes:
        click.echo(f"note: {note}", err=True)


def _check_recorded(text: str) -> None:
    """What is written must load as a journey (a safety net: the recorder writes only what it knows)."""
    import yaml
    from pydantic import ValidationError

    from agent.journey.model import Journey

    try:
        Journey.model_validate(yaml.safe_load(text), by_alias=True, by_name=False)
    except (ValidationError, yaml.YAMLError) as exc:
        click.echo(f"internal error: the recorded journey does not load: {exc}", err=True)
        click.echo(text, err=True)
        sys.exit(EXIT_BAD_INPUT)
