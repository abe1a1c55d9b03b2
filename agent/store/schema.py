"""Schema of the SQLite result store, as an ordered list of migrations.

`MIGRATIONS[i]` takes a store from schema version `i` to `i + 1`; the version a store is at
is kept in the `meta` table (key `schema_version`). Append new migrations at the end and
never edit one that has shipped: stores in the field are at every version in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

MIGRATIONS: list[str] = [
    # 1: runs, per-minute counts per journey and SLO, alert state.
    """
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        journey     TEXT    NOT NULL,
        started_at  REAL    NOT NULL,          -- unix seconds
        outcome     TEXT    NOT NULL,
        error_type  TEXT,
        duration_s  REAL    NOT NULL,
        trace_id    TEXT    NOT NULL,
        location    TEXT    NOT NULL DEFAULT '',
        attempt     INTEGER NOT NULL DEFAULT 1,
        agent_side  INTEGER NOT NULL DEFAULT 0,
        result_json TEXT    NOT NULL           -- the Result JSON of docs/interfaces.md
    );
    CREATE INDEX runs_journey_started ON runs (journey, started_at DESC);

    -- slo = '' is the journey's own count: good = passed runs, total = runs that were
    -- not agent-side, excluded = agent-side runs.
    CREATE TABLE minute_counts (
        journey  TEXT    NOT NULL,
        slo      TEXT    NOT NULL,
        minute   INTEGER NOT NULL,             -- unix minute: int(started_at // 60)
        good     INTEGER NOT NULL DEFAULT 0,
        total    INTEGER NOT NULL DEFAULT 0,
        excluded INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (journey, slo, minute)
    ) WITHOUT ROWID;

    CREATE TABLE alert_state (
        slo           TEXT NOT NULL,
        severity      TEXT NOT NULL,
        state         TEXT NOT NULL,
        since         REAL,
        last_notified REAL,
        details       TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (slo, severity)
    );
    """,
]


class StoreError(Exception):
    """The result store cannot be used."""


class StoreVersionError(StoreError):
    """The store file was written by a newer journeyprobe than this one."""


def statements(script: str) -> Iterator[str]:
    """Split an SQL script into complete statements (semicolons in strings and triggers kept)."""
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                yield buf.strip()
            buf = ""
    if buf.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:80]!r}")


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in `meta`, 0 for a store without one (a new file)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, where: str, migrations: Sequence[str] | None = None) -> int:
    """Bring the store up to the latest schema in one transaction; returns the version.

    `conn` must be in autocommit mode (isolation_level=None). Raises StoreVersionError if
    the file is at a version this code does not know; any failing migration rolls back all.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    latest = len(migrations)
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)
        if current > latest:
            raise StoreVersionError(
                f"{where}: written by a newer journeyprobe (schema {current}, this one knows "
                f"{latest}): upgrade, or point storage.path elsewhere")
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for script in migrations[current:]:
            for statement in statements(script):
                conn.execute(statement)
        if current != latest:
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(latest),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return latest
