"""`journeyprobe slo`: SLO status from the store, as a table or as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from agent.config.models import AgentConfig
from agent.journey.model import Journey
from agent.slo.alerts import AlertBook
from agent.slo.engine import SloReport, load_reports
from agent.slo.math import SEVERITIES
from agent.slo.status import slo_list
from agent.slo.wording import objective_text, overspent_text, percent, rate_text, span_text


async def gather_status(config: AgentConfig, journeys: Sequence[Journey],
                        now: float | None = None) -> tuple[list[SloReport], list[dict[str, Any]], bool]:
    """(reports, the /api/v1/slos list, whether the store exists), read-only on the alert state."""
    from agent.store.sqlite import Store

    now = time.time() if now is None else now
    path = config.storage.path
    if path != ":memory:" and not await asyncio.to_thread(Path(path).exists):
        reports = await load_reports(_NoStore(), journeys, now)
        return reports, slo_list(reports, location=config.location), False
    store = await Store.open(path, retention_s=config.storage.retention)
    try:
        reports = await load_reports(store, journeys, now)
        book = AlertBook(store, location=config.location)
        await book.load()
        return reports, slo_list(reports, book.active, config.location), True
    finally:
        await store.close()


class _NoStore:
    async def minute_counts(self, slo: str, journey: str, since_minute: int,
                            until_minute: int) -> list[tuple[int, int, int, int]]:
        return []


def _alert_cell(entry: dict[str, Any]) -> str:
    firing = [a["severity"] for a in entry["alerts"] if a.get("state") == "firing"]
    order = {s: i for i, s in enumerate(SEVERITIES)}
    cell = ", ".join(f"[bold red]{s}[/]" if s == "page" else f"[yellow]{s}[/]"
                     for s in sorted(firing, key=order.__getitem__))
    if cell:
        return cell
    if entry.get("judgement"):  # the reason is printed under the table
        return "[dim]fleet[/]" if (entry.get("min_failing_locations") or 1) > 1 else "[dim]too few runs[/]"
    return "[green]ok[/]"


def _budget_cell(budget: float | None) -> str:
    if budget is None or budget >= 0:
        return percent(budget)
    return overspent_text(budget)


def _events_cell(entry: dict[str, Any]) -> str:
    """120 runs (so far, 4 minutes) and the excluded ones."""
    young = entry.get("data_s") and entry["data_s"] < entry.get("window_s", 0)
    text = f"{entry['events']} runs" + (f" in {span_text(entry['data_s'])}" if young else "")
    return text + (f", {entry['excluded']} excluded" if entry["excluded"] else "")


def render_table(entries: list[dict[str, Any]], out: TextIO | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="SLOs", title_justify="left")
    for column, justify in (("SLO", "left"), ("owner", "left"), ("objective", "right"), ("SLI", "right"),
                            ("budget left", "right"), ("burn 1h", "right"), ("burn 6h", "right"),
                            ("burn 1d", "right"), ("alert", "left")):
        table.add_column(column, justify=justify, no_wrap=column == "SLO")  # type: ignore[arg-type]
    for e in entries:
        budget = e["error_budget_remaining"]
        style = "" if budget is None else "red" if budget < 0 else "yellow" if budget < 0.25 else ""
        sli = e["sli"]
        table.add_row(
            f"{e['name']}\n[dim]{e['journey']}[/]", e["owner"],
            f"{objective_text(e['objective'])}\n[dim]{e['window']}[/]",
            ("no data" if sli is None else f"{sli * 100:.3f}%") + f"\n[dim]{_events_cell(e)}[/]",
            f"[{style}]{_budget_cell(budget)}[/]" if style else _budget_cell(budget),
            *(rate_text(e["burn_rates"][w]) for w in ("1h", "6h", "1d")),
            _alert_cell(e),
        )
    stream = out or sys.stdout
    console = Console(file=stream, width=None if stream.isatty() else 140)
    if entries:
        console.print(table)
        for e in entries:  # why the agent does not judge some SLOs (yet)
            if e.get("judgement") and not any(a.get("state") == "firing" for a in e["alerts"]):
                console.print(f"{e['name']}: {e['judgement']}", markup=False, highlight=False)
    else:
        console.print("No SLOs: add an slos: block to a journey file.")


def slo_command(config: AgentConfig, journeys: Sequence[Journey], as_json: bool, *,
                out: TextIO | None = None) -> int:
    """`journeyprobe slo [--config agent.yaml] [--json]`; returns the exit code (0).

    With `shard:` set, only this replica's journeys are shown: its store holds no others.
    """
    if config.shard:
        from agent.config.shard import owns, parse_shard

        index, count = parse_shard(config.shard)
        journeys = [j for j in journeys if owns(j.name, index, count)]
    _, entries, found = asyncio.run(gather_status(config, journeys))
    stream = out or sys.stdout
    if as_json:
        stream.write(json.dumps(entries, indent=2, default=str) + "\n")
    else:
        render_table(entries, stream)
        if not found:
            print(f"note: no store at {config.storage.path} yet; start the daemon (journeyprobe run) to "
                  f"collect runs", file=sys.stderr)
    return 0
