"""Alerts to Prometheus Alertmanager through its API v2 (`POST /api/v2/alerts`).

Alertmanager resolves an alert by itself once its `endsAt` passes, so like Prometheus we
send a firing alert again on every evaluation (the `refresh` notifications), each time with
`endsAt` a few evaluations ahead, and an explicit `endsAt` of now when it resolves. Routing,
grouping, silences and repeat intervals are Alertmanager's business.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from agent.slo.alerts import Notification
from agent.slo.wording import overspent_text, percent
from exporters.alert_post import post_json, rfc3339

ALERTNAME = "SLOBurnRate"


def alert_labels(note: Notification) -> dict[str, str]:
    """The labels that identify an alert: the same set the Prometheus rules give theirs
    (`agent.slo.rules.prometheus.alert_rules`), so Alertmanager takes an agent's alert and the
    rules' alert for the same SLO, severity and location as one."""
    labels = {"alertname": ALERTNAME, "slo": note.slo, "journey_name": note.journey, "severity": note.severity,
              "owner": note.owner, "probe_location": note.location}
    return {k: v for k, v in labels.items() if v}


def am_alert(note: Notification, *, valid_for: float = 300.0) -> dict[str, Any]:
    """One postable alert: labels identify it, annotations explain it."""
    labels = alert_labels(note)
    annotations = {"summary": note.summary, "description": note.description,
                   "budget_left": percent(note.budget_remaining) if note.budget_remaining is None
                   or note.budget_remaining > 0 else overspent_text(note.budget_remaining)}
    if note.status_page:
        annotations["status_page"] = note.status_page
    if note.burn_rate is not None:
        annotations["burn_rate"] = f"{note.burn_rate:.3g}"
    alert: dict[str, Any] = {
        "labels": {k: v for k, v in labels.items() if v},
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": rfc3339(note.since),
        "endsAt": rfc3339(note.at if not note.firing else note.at + valid_for),
    }
    if note.status_page:
        alert["generatorURL"] = note.status_page
    return alert


class AlertmanagerSender:
    """Sends every notification, refreshes included, to one Alertmanager."""

    def __init__(self, url: str, *, name: str = "alertmanager", resend_every: float = 30.0) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.name = name
        # like Prometheus: valid for four resend intervals (at least 5 minutes) unless sent again
        self.valid_for = max(300.0, 4 * resend_every)

    def wants(self, note: Notification) -> bool:
        return True

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        await post_json(session, self.url, [am_alert(note, valid_for=self.valid_for)])
