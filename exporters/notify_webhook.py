"""Alerts to a webhook: a generic JSON document, or a Slack-compatible `{"text", "blocks"}` body."""

from __future__ import annotations

from typing import Any

import aiohttp

from agent.core.durations import format_duration
from agent.slo.alerts import Notification
from agent.slo.wording import objective_text, percent, rate_text
from exporters.alert_post import post_json, rfc3339

PAYLOAD_VERSION = "1"


def json_payload(note: Notification) -> dict[str, Any]:
    """The generic webhook body: one notification, flat and self-describing."""
    return {
        "version": PAYLOAD_VERSION,
        "source": "journeyprobe",
        "kind": note.kind,  # firing, renotify, resolved
        "status": "firing" if note.firing else "resolved",
        "key": f"{note.key}/{note.severity}",
        "slo": note.slo,
        "journey": note.journey,
        "severity": note.severity,
        "owner": note.owner,
        "location": note.location,
        "summary": note.summary,
        "description": note.description,
        "objective": note.objective,
        "window": format_duration(note.window_s) if note.window_s else None,
        "burn_rate": note.burn_rate,
        "threshold": note.threshold,
        "long_window": note.long_window,
        "short_window": note.short_window,
        "budget_remaining": note.budget_remaining,
        "started_at": rfc3339(note.since),
        "ended_at": rfc3339(note.ended_at),
        "sent_at": rfc3339(note.at),
        "status_page": note.status_page,
    }


def slack_text(note: Notification) -> str:
    """One line for Slack's `text` (also what notifications and screen readers show)."""
    if note.firing:
        mark = ":rotating_light:" if note.severity == "page" else ":warning:"
        head = f"{mark} [{note.severity.upper()}{' again' if note.kind == 'renotify' else ''}]"
    else:
        head = ":white_check_mark: [RESOLVED]"
    text = f"{head} {note.summary}"
    if note.status_page:
        text += f" <{note.status_page}|status page>"
    return text


def slack_payload(note: Notification) -> dict[str, Any]:
    """Slack-compatible body: `text` always, `blocks` for a tidier message."""
    facts = [f"*SLO* {note.slo} ({note.journey})", f"*Owner* {note.owner}"]
    if note.objective:
        facts.append(f"*Objective* {objective_text(note.objective)} over {format_duration(note.window_s)}")
    facts.append(f"*Budget left* {percent(note.budget_remaining)}")
    if note.burn_rate is not None and note.long_window:
        facts.append(f"*Burn rate* {rate_text(note.burn_rate)} over {note.long_window}")
    if note.location:
        facts.append(f"*Location* {note.location}")
    return {
        "text": slack_text(note),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": slack_text(note)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f} for f in facts]},
        ],
    }


class WebhookSender:
    """POSTs firing, re-notified and resolved alerts (not the Alertmanager-only refreshes)."""

    def __init__(self, url: str, *, fmt: str = "json", headers: dict[str, str] | None = None,
                 name: str = "webhook") -> None:
        self.url = url
        self.fmt = fmt
        self.headers = dict(headers or {})
        self.name = name

    def wants(self, note: Notification) -> bool:
        return note.kind != "refresh"

    def payload(self, note: Notification) -> dict[str, Any]:
        return slack_payload(note) if self.fmt == "slack" else json_payload(note)

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        await post_json(session, self.url, self.payload(note), self.headers)
