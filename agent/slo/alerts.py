"""Multi-window, multi-burn-rate alerts and their state: fire once, re-notify, resolve once.

Per SLO and severity (page, ticket) the state is `firing` or `ok`, kept in the store so
that a restarted agent neither fires again nor forgets. The state is written before the
notification is handed to the senders: a crash in between loses at most that one
notification, and never sends it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from agent.journey.model import Slo
from agent.slo.engine import SloReport, WindowStats
from agent.slo.math import SEVERITIES, AlertPair, alert_pairs, min_events
from agent.slo.wording import firing_summary, quorum_text, resolved_summary, slo_description, too_few_text

log = logging.getLogger("journeyprobe.slo")

FIRING, OK = "firing", "ok"


class AlertStore(Protocol):
    """The part of `agent.store.sqlite.Store` alert state lives in."""

    async def get_alert_states(self) -> dict[tuple[str, str], dict[str, Any]]: ...

    async def put_alert_state(self, slo: str, severity: str, state: str, since: float | None,
                              last_notified: float | None, details: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Notification:
    """What the senders get. kind: firing, renotify, resolved, or refresh (still firing,
    nothing new to tell a person; Alertmanager needs it to keep the alert alive)."""

    kind: str
    key: str
    slo: str
    journey: str
    severity: str
    owner: str
    location: str
    since: float
    at: float
    summary: str
    description: str
    objective: float
    window_s: float
    burn_rate: float | None = None
    long_window: str | None = None
    short_window: str | None = None
    threshold: float | None = None
    budget_remaining: float | None = None
    status_page: str | None = None

    @property
    def firing(self) -> bool:
        return self.kind != "resolved"

    @property
    def ended_at(self) -> float | None:
        return self.at if self.kind == "resolved" else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class AlertState:
    state: str = OK
    since: float | None = None
    last_notified: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Whether an SLO should alert at a severity: True, False, or None (no events to say).

    `reason` says why the agent did not judge at all: too few events in every pair's long
    window (a young SLO), or a location quorum that one agent cannot see.
    """

    decision: bool | None
    pair: AlertPair | None = None
    long: WindowStats | None = None
    short: WindowStats | None = None
    reason: str = ""


def assess(report: SloReport, severity: str, location: str = "") -> Assessment:
    """Both windows of a pair above its threshold, with at least `min_runs` events in the short
    window and `min_events` in the long one (so that a young SLO's first failure does not fire)."""
    slo = report.slo
    pairs = [p for p in alert_pairs(slo.window) if p.severity == severity]
    if slo.locations.min_failing > 1:
        return Assessment(False, reason=quorum_text(slo.locations.min_failing, location))
    min_runs = slo.alerting.min_runs
    best: Assessment | None = None
    best_ratio = 0.0
    any_data = judged = False
    thin = ""
    for pair in pairs:
        long, short = report.windows[pair.long], report.windows[pair.short]
        if short.counts.total > 0:
            any_data = True
        if long.burn_rate is None or short.burn_rate is None:
            continue
        if short.counts.total < max(1, min_runs):
            continue
        needed = min_events(pair, slo.objective, report.interval_s, slo.alerting.min_events)
        if long.counts.total < needed:
            if not thin:
                so_far = report.young and report.data_s <= pair.long_s
                thin = too_few_text(long.counts.total, so_far, needed, severity, pair.long)
            continue
        judged = True
        if long.burn_rate > pair.threshold and short.burn_rate > pair.threshold:
            ratio = long.burn_rate / pair.threshold
            if best is None or ratio > best_ratio:
                best, best_ratio = Assessment(True, pair, long, short), ratio
    if best is not None:
        return best
    if not any_data:
        return Assessment(None)
    first = pairs[0] if pairs else None
    return Assessment(False, first, report.windows[first.long] if first else None,
                      report.windows[first.short] if first else None, "" if judged else thin)


def judgement(report: SloReport, location: str = "") -> str | None:
    """Why the agent does not judge this SLO now (the page's reason first), or None when it does."""
    if not report.loaded:
        return None
    for severity in SEVERITIES:
        reason = assess(report, severity, location).reason
        if reason:
            return reason
    return None


def renotify_after(slo: Slo, default: float) -> float:
    """The SLO's own `alerting.renotify` when set in its file, else the agent's default."""
    return slo.alerting.renotify if "renotify" in slo.alerting.model_fields_set else default


class AlertBook:
    """Alert state of every SLO and severity; turns reports into notifications."""

    def __init__(self, store: AlertStore, notify: Callable[[Notification], None] | None = None, *,
                 location: str = "", public_url: str | None = None,
                 default_renotify: float = 4 * 3600) -> None:
        self.store = store
        self.notify = notify or (lambda n: None)
        self.location = location
        self.public_url = public_url
        self.default_renotify = default_renotify
        self.states: dict[tuple[str, str], AlertState] = {}
        self._unsaved: set[tuple[str, str]] = set()
        self.sent = 0

    async def load(self) -> None:
        """Read the state left by the last run of the agent."""
        for (key, severity), row in (await self.store.get_alert_states()).items():
            self.states[(key, severity)] = AlertState(row.get("state") or OK, row.get("since"),
                                                      row.get("last_notified"),
                                                      dict(row.get("details") or {}))

    def state(self, key: str, severity: str) -> AlertState:
        return self.states.get((key, severity)) or AlertState()

    async def evaluate(self, reports: Iterable[SloReport], now: float) -> list[Notification]:
        """Advance every alert by one evaluation; returns (and hands over) the notifications."""
        out: list[Notification] = []
        for index, report in enumerate(reports, start=1):
            if index % 100 == 0:
                await asyncio.sleep(0)  # hand the loop back: runs must start on time
            if not report.loaded:
                continue
            for severity in SEVERITIES:
                note = await self._step(report, severity, now)
                if note is not None:
                    out.append(note)
        await self._save_unsaved()
        for note in out:
            self._hand_over(note)
        return out

    async def retire(self, present: set[str], now: float) -> list[Notification]:
        """Resolve alerts whose SLO is no longer configured (its journey or SLO was removed)."""
        out = []
        for (key, severity), st in list(self.states.items()):
            if key in present or st.state != FIRING:
                continue
            details = dict(st.details)
            name = details.get("slo_name", key)
            details["summary"] = f"{name}: the SLO was removed from the configuration"
            new = AlertState(OK, now, now, details)
            await self._put(key, severity, new)
            out.append(self._note_from_details("resolved", key, severity, new, since=st.since or now, at=now))
        for note in out:
            self._hand_over(note)
        return out

    def active(self, key: str) -> list[dict[str, Any]]:
        """The SLO's firing alerts, for the API."""
        out = []
        for severity in SEVERITIES:
            st = self.states.get((key, severity))
            if st is not None and st.state == FIRING:
                out.append({"severity": severity, "state": st.state, "since": st.since,
                            "last_notified": st.last_notified, **{k: st.details.get(k) for k in (
                                "summary", "burn_rate", "threshold", "long_window", "short_window")}})
        return out

    # -- internals -------------------------------------------------------------------------
    async def _step(self, report: SloReport, severity: str, now: float) -> Notification | None:
        st = self.state(report.key, severity)
        verdict = assess(report, severity, self.location)
        if verdict.decision is True:
            details = self._details(report, verdict, now)
            if st.state != FIRING:
                new = AlertState(FIRING, now, now, details)
                await self._put(report.key, severity, new)
                return self._note("firing", report, severity, new, now)
            renotify = renotify_after(report.slo, self.default_renotify)
            if st.last_notified is None or now - st.last_notified >= renotify:
                new = AlertState(FIRING, st.since or now, now, details)
                await self._put(report.key, severity, new)
                return self._note("renotify", report, severity, new, now)
            st.details = details  # fresher numbers for the API; not worth a write
            return self._note("refresh", report, severity, st, now)
        if st.state != FIRING:
            return None
        if verdict.decision is None:  # no events to judge by: hold, keep Alertmanager informed
            return self._note("refresh", report, severity, st, now)
        burn = verdict.long.burn_rate if verdict.long else None
        details = {**self._details(report, verdict, now),
                   "summary": resolved_summary(report.slo, burn, verdict.pair.long if verdict.pair else None,
                                               report.budget_remaining)}
        new = AlertState(OK, now, now, details)
        await self._put(report.key, severity, new)
        return self._note("resolved", report, severity, new, now, since=st.since or now)

    def _details(self, report: SloReport, verdict: Assessment, now: float) -> dict[str, Any]:
        pair, long = verdict.pair, verdict.long
        burn = long.burn_rate if long else None
        summary = firing_summary(report.slo, burn, pair.long, pair.long_s, report.data_s) \
            if verdict.decision and pair and burn is not None else ""
        return {"journey": report.journey, "slo_name": report.slo.name, "summary": summary,
                "burn_rate": burn, "short_burn_rate": verdict.short.burn_rate if verdict.short else None,
                "threshold": pair.threshold if pair else None, "long_window": pair.long if pair else None,
                "short_window": pair.short if pair else None, "budget_remaining": report.budget_remaining,
                "owner": report.slo.owner, "evaluated_at": now}

    def _note(self, kind: str, report: SloReport, severity: str, st: AlertState, now: float, *,
              since: float | None = None) -> Notification:
        d = st.details
        return Notification(
            kind=kind, key=report.key, slo=report.slo.name, journey=report.journey, severity=severity,
            owner=report.slo.owner, location=self.location,
            since=since if since is not None else (st.since or now),
            at=now, summary=d.get("summary") or "", description=slo_description(report.slo, report.journey),
            objective=report.slo.objective, window_s=report.slo.window, burn_rate=d.get("burn_rate"),
            long_window=d.get("long_window"), short_window=d.get("short_window"),
            threshold=d.get("threshold"), budget_remaining=report.budget_remaining,
            status_page=self.public_url)

    def _note_from_details(self, kind: str, key: str, severity: str, st: AlertState, *, since: float,
                           at: float) -> Notification:
        d = st.details
        return Notification(
            kind=kind, key=key, slo=d.get("slo_name", key), journey=d.get("journey", ""), severity=severity,
            owner=d.get("owner", ""), location=self.location, since=since, at=at,
            summary=d.get("summary", ""), description=d.get("summary", ""), objective=0.0, window_s=0.0,
            budget_remaining=d.get("budget_remaining"), status_page=self.public_url)

    async def _put(self, key: str, severity: str, st: AlertState) -> None:
        self.states[(key, severity)] = st
        try:
            await self.store.put_alert_state(key, severity, st.state, st.since, st.last_notified, st.details)
            self._unsaved.discard((key, severity))
        except Exception:
            log.exception("could not save the %s alert state of SLO %s; will retry", severity, key)
            self._unsaved.add((key, severity))

    async def _save_unsaved(self) -> None:
        for key, severity in list(self._unsaved):
            st = self.states.get((key, severity))
            if st is not None:
                await self._put(key, severity, st)

    def _hand_over(self, note: Notification) -> None:
        if note.kind != "refresh":
            self.sent += 1
            if note.firing:
                log.warning("SLO alert %s (%s): %s", note.kind, note.severity, note.summary)
            else:
                log.info("SLO alert resolved (%s): %s", note.severity, note.summary)
        try:
            self.notify(note)
        except Exception:
            log.exception("handing an alert to the senders failed")
