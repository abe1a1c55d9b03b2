"""`journeyprobe init [DIR]`: a starter project (an HTTP and a browser journey, agent.yaml, the schema).

Every file is checked first: if one exists, nothing is written (init never overwrites).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEMO_URL = "http://127.0.0.1:8000"
SCHEMA_FILE = "journey.schema.json"

_HTTP = """\
# yaml-language-server: $schema=../journey.schema.json
# An HTTP journey: one request, what the answer must hold, and an SLO with its owner.
# The format is in journeyprobe's docs/journeys.md; your editor checks it with the schema named above.
name: homepage
description: The home page answers, quickly
interval: 60s                     # the daemon runs it every minute; `check` runs it once
labels: {team: web}               # check --label team=web selects by label
variables:
  base: "{{ env.BASE_URL | default('@URL@') }}"
steps:
  - name: home page
    http:
      url: "{{ base }}/"
    expect:
      - status == 200
      - duration < 2s
slos:
  - name: homepage-success
    objective: 99%
    window: 28d
    owner: Head of Web           # who in the business answers for this SLO
"""

_BROWSER = """\
# yaml-language-server: $schema=../journey.schema.json
# A browser journey: headless Chromium opens the page as a customer would.
# Record a longer one by clicking through it: journeyprobe record @URL@ -o journeys/flow.yaml
name: homepage-browser
description: The home page shows in a real browser
interval: 5m
timeout: 30s
labels: {team: web}
variables:
  base: "{{ env.BASE_URL | default('@URL@') }}"
steps:
  - name: open the home page
    browser:
      - goto: "{{ base }}/"
      - expect_visible: body
      # - click: 'role=link[name="Sign in"]'
      # - fill: {selector: "#email", value: "{{ env.TEST_USER }}"}
      # - fill: {selector: "#password", value: "{{ secret.TEST_PASSWORD }}"}   # secret.: redacted everywhere
      # - expect_text: "Welcome"
"""

_AGENT = """\
# The agent's config, for `journeyprobe run --config agent.yaml` and `journeyprobe check --config agent.yaml`.
# Every key is optional; JOURNEYPROBE_<KEY> and JOURNEYPROBE_<SECTION>_<KEY> environment variables override them
# (JOURNEYPROBE_BROWSER_EXECUTABLE_PATH=/usr/bin/chromium). All keys: docs/daemon.md.
location: local                   # probe.location on every result and metric
journeys: ["journeys/*.yaml"]     # relative to this file's folder
browser: {max_contexts: 2}
storage: {path: journeyprobe.db}  # relative to the folder the agent runs in
server: {listen: "127.0.0.1:9464"}
"""


@dataclass(frozen=True)
class Starter:
    folder: Path
    files: dict[str, str]  # path in the folder -> content


class InitError(ValueError):
    """The folder cannot take the starter project; str() names the file in the way."""


def starter(folder: Path, url: str | None = None) -> Starter:
    from agent.journey.schema import journey_schema

    base = (url or DEMO_URL).rstrip("/")
    files = {
        "agent.yaml": _AGENT,
        SCHEMA_FILE: json.dumps(journey_schema(), indent=2) + "\n",
        "journeys/homepage.yaml": _HTTP.replace("@URL@", base),
        "journeys/homepage-browser.yaml": _BROWSER.replace("@URL@", base),
    }
    return Starter(folder, files)


def write_starter(project: Starter) -> list[Path]:
    """Write every file, or none: InitError when the folder is a file or a file is already there."""
    if project.folder.exists() and not project.folder.is_dir():
        raise InitError(f"{project.folder}: not a folder")
    targets = [project.folder / name for name in project.files]
    for target in targets:
        if target.exists():
            raise InitError(f"{target} already exists: init never overwrites; choose another folder or move it away")
    written = []
    try:
        for target, text in zip(targets, project.files.values(), strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("x", encoding="utf-8") as out:  # "x": never replace a file that appeared meanwhile
                out.write(text)
            written.append(target)
    except OSError as exc:
        for path in written:  # nothing half-done
            path.unlink(missing_ok=True)
        raise InitError(f"{project.folder}: cannot write the starter files: {exc.strerror or exc}") from None
    return targets


def next_steps(project: Starter, url: str | None) -> str:
    folder = project.folder
    where = "" if folder.resolve() == Path.cwd().resolve() else f"  cd {folder}\n"
    aim = (f"They probe {url}." if url else
           f"They probe {DEMO_URL}, the demo shop (start it with `journeyprobe demo`);\n"
           f"set BASE_URL (or give init --url) to probe your site instead.")
    listing = "\n".join(f"  {name:<32} {_ABOUT[name]}" for name in project.files)
    return (f"Created in {folder}:\n{listing}\n\n{aim}\n\nNext steps:\n{where}"
            "  journeyprobe check --config agent.yaml                   # run every journey once, now\n"
            "  journeyprobe record URL -o journeys/my-flow.yaml         # record a browser flow by clicking it\n"
            "  journeyprobe check --config agent.yaml --grep my-flow    # run the recorded one\n"
            "  journeyprobe run --config agent.yaml                     # the daemon; status page on "
            "http://127.0.0.1:9464/\n")


_ABOUT = {
    "agent.yaml": "the agent's config",
    SCHEMA_FILE: "JSON Schema for editors (named on each journey's first line)",
    "journeys/homepage.yaml": "an HTTP journey with an SLO",
    "journeys/homepage-browser.yaml": "a browser journey",
}
