"""What one write batch puts into SQLite: a `runs` row per result and the summed `minute_counts`.

A result's row (with its JSON) is made when the result is added, on the loop: the writer
thread then holds the GIL only around SQLite's calls. Python's sqlite3 lets go of the GIL at
every step of a statement and must take it back after; one step per row (`executemany`) cost
the writer ~95 µs a row in GIL hand-offs while the loop was busy, so rows go in as multi-row
statements of `CHUNK_ROWS`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from agent.core import jsonfast
from agent.probe.result import RunResult

# result, SLO verdicts, time.monotonic() when added, its `runs` row
BatchItem = tuple[RunResult, Mapping[str, bool | None], float, tuple[Any, ...]]

INSERT_RUN = ("INSERT INTO runs (journey, started_at, outcome, error_type, duration_s, trace_id, "
              "location, attempt, agent_side, result_json) VALUES {values}")
UPSERT_COUNT = (
    "INSERT INTO minute_counts (journey, slo, minute, good, total, excluded) VALUES {values} "
    "ON CONFLICT (journey, slo, minute) DO UPDATE SET good = minute_counts.good + excluded.good, "
    "total = minute_counts.total + excluded.total, "
    "excluded = minute_counts.excluded + excluded.excluded")
CHUNK_ROWS = 64


def run_row(result: RunResult) -> tuple[Any, ...]:
    """The `runs` row of a result."""
    return (result.journey, result.started_at.timestamp(), result.outcome.value, result.error_type,
            result.duration_s, result.trace_id, result.location, result.attempt, int(result.agent_side),
            jsonfast.dumps(result.to_dict()))


def batch_rows(batch: list[BatchItem]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of `runs`, and `minute_counts` increments summed over the batch.

    slo = '' is the journey's own count: good = passed runs, total = runs not agent-side,
    excluded = agent-side runs; an SLO's verdict None (agent-side) counts as excluded.
    """
    runs: list[tuple[Any, ...]] = []
    counts: dict[tuple[str, str, int], list[int]] = {}
    for result, verdicts, _, row in batch:
        runs.append(row)
        minute = int(row[1] // 60)
        own = counts.setdefault((result.journey, "", minute), [0, 0, 0])
        if result.agent_side:
            own[2] += 1
        else:
            own[0] += result.passed
            own[1] += 1
        for slo, verdict in verdicts.items():
            c = counts.setdefault((result.journey, slo, minute), [0, 0, 0])
            if verdict is None:
                c[2] += 1
            else:
                c[0] += verdict
                c[1] += 1
    return runs, [(*key, *c) for key, c in counts.items()]


def insert_many(conn: sqlite3.Connection, template: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert `rows` with one multi-row statement per chunk of `CHUNK_ROWS`."""
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        row_marks = "(" + ", ".join("?" * len(chunk[0])) + ")"
        sql = template.format(values=", ".join([row_marks] * len(chunk)))
        conn.execute(sql, [value for row in chunk for value in row])


def write_batch(conn: sqlite3.Connection, batch: list[BatchItem]) -> None:
    """Insert one batch (inside the caller's transaction)."""
    runs, counts = batch_rows(batch)
    insert_many(conn, INSERT_RUN, runs)
    insert_many(conn, UPSERT_COUNT, counts)
