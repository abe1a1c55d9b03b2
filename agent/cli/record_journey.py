"""What `record` saw, as a journey: browser actions in order, one step per page the person opened.

Events come from the page (agent/cli/recorder.js) and from Playwright's navigation events. A
navigation that follows an action within NAVIGATION_AFTER_ACTION_S (a link, a form) is that
action's doing; any other (an address typed, back and forward) becomes a `goto`. Typing into a
secret field becomes `{{ secret.NAME }}` through a variable: its value is never sent here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

NAVIGATION_AFTER_ACTION_S = 3.0
_NAME = re.compile(r"[^a-z0-9_.-]+")


@dataclass
class RecordedStep:
    name: str
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Recording:
    start_url: str
    clock: Callable[[], float] = time.monotonic
    steps: list[RecordedStep] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # variable -> environment variable
    notes: list[str] = field(default_factory=list)
    current_url: str = ""
    last_action_at: float | None = None
    navigation_started_at: float | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.start_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"

    # -- events ------------------------------------------------------------------------------
    def opened(self, url: str) -> None:
        """The recorder itself opened the start URL (a redirect it causes is no user action)."""
        self._goto(url)
        self.last_action_at = self.clock()

    def navigation_requested(self) -> None:
        self.navigation_started_at = self.clock()

    def navigated(self, url: str) -> None:
        """The top frame committed a URL."""
        if url == self.current_url or not url.startswith(("http://", "https://")):
            return
        started = self.navigation_started_at if self.navigation_started_at is not None else self.clock()
        self.navigation_started_at = None
        caused = self.last_action_at is not None and started - self.last_action_at <= NAVIGATION_AFTER_ACTION_S
        if caused:
            self.current_url = url
        else:
            self._goto(url)

    def page_event(self, event: dict[str, Any]) -> None:
        """One event of recorder.js."""
        kind = event.get("kind")
        selectors = [s for s in event.get("selectors") or [] if isinstance(s, str) and s]
        if kind == "unsupported":
            self.notes.append(f"not recorded: {event.get('what')} (add it by hand)")
            return
        if not selectors or not self.steps:
            return
        selector = selectors[0]
        actions = self.steps[-1].actions
        self.last_action_at = self.clock()
        if kind == "fill":
            value = self._secret(str(event["secret"])) if event.get("secret") else str(event.get("value", ""))
            if actions and "fill" in actions[-1] and actions[-1]["fill"]["selector"] == selector:
                actions[-1]["fill"]["value"] = value  # one fill per field, with what it ends up holding
            else:
                actions.append({"fill": {"selector": selector, "value": value}})
        elif kind == "click":
            actions.append({"click": selector})
        elif kind == "select":
            actions.append({"select": {"selector": selector, "value": str(event.get("value", ""))}})
        elif kind == "press":
            actions.append({"press": {"key": str(event.get("key", "Enter")), "selector": selector}})
        elif kind == "expect_text" and event.get("text"):
            actions.append({"expect_text": {"text": str(event["text"]), "selector": selector}})
        elif kind in ("expect_text", "expect_visible"):
            actions.append({"expect_visible": selector})

    # -- the journey ---------------------------------------------------------------------------
    @property
    def action_count(self) -> int:
        return sum(len(s.actions) for s in self.steps)

    def journey(self, name: str) -> dict[str, Any]:
        variables: dict[str, str] = {"base": f"{{{{ env.BASE_URL | default('{self.origin}') }}}}"}
        variables.update({var: f"{{{{ secret.{env} }}}}" for var, env in self.secrets.items()})
        steps: list[dict[str, Any]] = [{"name": s.name, "browser": [dict(a) for a in s.actions]}
                                       for s in self.steps if s.actions]
        checks = ("expect_text", "expect_visible", "expect_url")
        if steps and not any(k in a for s in steps for a in s["browser"] for k in checks):
            final = self._templated(self.current_url).replace("{{ base }}", "")
            if final.startswith("/"):
                steps[-1]["browser"].append({"expect_url": final})
                note = (f"no check was recorded (Alt+click an element to record one): "
                        f"the journey checks that it ends on {final}")
                if note not in self.notes:
                    self.notes.append(note)
        return {"name": name, "description": f"Recorded from {self.start_url}", "interval": "5m",
                "timeout": "60s", "variables": variables, "steps": steps}

    def yaml_text(self, name: str, schema: str | None = None, today: datetime | None = None) -> str:
        data = self.journey(name)
        day = (today or datetime.now(UTC)).date().isoformat()
        head = [f"# yaml-language-server: $schema={schema}"] if schema else []
        head.append(f"# Recorded by `journeyprobe record {self.start_url}` on {day}.")
        if self.secrets:
            head.append(f"# Secrets, read from the environment: {', '.join(sorted(self.secrets.values()))}.")
        head += [f"# Note: {note}" for note in self.notes]
        return "\n".join(head) + "\n" + _dump(data)

    # -- helpers -------------------------------------------------------------------------------
    def _goto(self, url: str) -> None:
        self.current_url = url
        path = urlsplit(url).path or "/"
        names = {s.name for s in self.steps}
        step_name, number = f"on {path}", 2
        while step_name in names:
            step_name, number = f"on {path} ({number})", number + 1
        self.steps.append(RecordedStep(step_name, [{"goto": self._templated(url)}]))

    def _templated(self, url: str) -> str:
        return "{{ base }}" + url[len(self.origin):] if url.startswith(self.origin) else url

    def _secret(self, hint: str) -> str:
        env = re.sub(r"[^A-Z0-9]+", "_", hint.upper()).strip("_") or "PASSWORD"
        if env[0].isdigit():
            env = "SECRET_" + env
        var = env.lower()
        if self.secrets.get(var, env) != env:
            var += "_2"
        self.secrets[var] = env
        return f"{{{{ {var} }}}}"


def journey_name(output: str | None, url: str) -> str:
    """From the output file's name, else from the URL's last path segment."""
    stem = Path(output).stem if output else (urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "home")
    name = _NAME.sub("-", stem.lower()).strip("-._")
    return (name or "recorded")[:64]


def _dump(data: dict[str, Any]) -> str:
    """Block style, one action per line, strings in double quotes where YAML needs quotes."""
    lines = [f"{key}: {_scalar(value)}" for key, value in data.items() if key not in ("variables", "steps")]
    lines.append("variables:")
    lines += [f"  {name}: {_scalar(value)}" for name, value in data["variables"].items()]
    lines.append("steps:")
    for step in data["steps"]:
        lines += [f"  - name: {_scalar(step['name'])}", "    browser:"]
        for action in step["browser"]:
            (kind, value), = action.items()
            shown = (_scalar(value) if isinstance(value, str) else
                     "{" + ", ".join(f"{k}: {_scalar(v, flow=True)}" for k, v in value.items()) + "}")
            lines.append(f"      - {kind}: {shown}")
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != data:  # never write what does not read back as recorded
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    return text


def _scalar(value: object, flow: bool = False) -> str:
    if not isinstance(value, str):
        return json.dumps(value)
    plain = yaml.safe_dump(value, allow_unicode=True, width=1000).removesuffix("\n...\n").strip()
    needs_quotes = plain.startswith(("'", '"')) or (flow and any(c in value for c in ",[]{}"))
    if not needs_quotes:
        return plain
    if '"' in value and "'" not in value and value.isprintable():
        return f"'{value}'"  # role=button[name="Pay"] reads better without backslashes
    return json.dumps(value, ensure_ascii=False)
