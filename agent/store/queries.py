"""Read-only queries of the store: runs, minute counts, alert states and the aggregates of the status page
and the report (a mixin of `Store`; every read runs on its reader thread)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# the names of the journeys with runs, walked along the (journey, started_at) index: one seek a journey
JOURNEYS_CTE = """
WITH RECURSIVE j(name) AS (
    SELECT (SELECT journey FROM runs ORDER BY journey LIMIT 1)
    UNION ALL
    SELECT (SELECT journey FROM runs WHERE journey > j.name ORDER BY journey LIMIT 1)
    FROM j WHERE j.name IS NOT NULL
)
"""


class ReportQueries:
    """Aggregates over committed runs and minute counts; all reads run on the store's reader thread."""

    _rconn: sqlite3.Connection | None

    def _check_open(self) -> None:
        raise NotImplementedError

    async def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        raise NotImplementedError

    async def _on_reader(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError

    async def count_totals(self, slo: str, journey: str, since_minute: int,
                           until_minute: int) -> tuple[int, int, int]:
        """(good, total, excluded) summed over since_minute <= minute < until_minute.

        `slo=''` gives the journey's own counts (good = passed runs, total = runs not agent-side).
        """
        rows = await self._query(
            "SELECT COALESCE(SUM(good), 0), COALESCE(SUM(total), 0), COALESCE(SUM(excluded), 0) "
            "FROM minute_counts WHERE journey = ? AND slo = ? AND minute >= ? AND minute < ?",
            (journey, slo, since_minute, until_minute))
        good, total, excluded = rows[0]
        return int(good), int(total), int(excluded)

    async def count_buckets(self, slo: str, journey: str, since_minute: int, until_minute: int,
                            bucket_minutes: int) -> list[tuple[int, int, int, int]]:
        """(bucket, good, total, excluded) per bucket of `bucket_minutes` minutes, ascending.

        Bucket i covers since_minute + i * bucket_minutes up to the next one; empty buckets are left out.
        """
        size = max(1, int(bucket_minutes))
        rows = await self._query(
            "SELECT (minute - ?) / ? AS b, SUM(good), SUM(total), SUM(excluded) FROM minute_counts "
            "WHERE journey = ? AND slo = ? AND minute >= ? AND minute < ? GROUP BY b ORDER BY b",
            (since_minute, size, journey, slo, since_minute, until_minute))
        return [(int(b), int(g), int(t), int(x)) for b, g, t, x in rows]

    async def minute_counts_many(self, requests: Sequence[tuple[str, str, int, int, int]],
                                 ) -> list[list[tuple[int, int, int, int]]]:
        """Many reads of `minute_counts` in one call on the reader thread, for the SLO engine.

        Each request is (journey, slo, since_minute, until_minute, bucket_minutes); its answer
        is the (minute, good, total, excluded) rows of since_minute <= minute < until_minute,
        ascending, summed per bucket of `bucket_minutes` minutes from since_minute (each row
        keyed by its bucket's first minute; 1: per minute). Empty buckets are left out. Each
        request is one index range, summed by SQLite, so a 30-day SLO read as 4,400 minutes and
        650 hours makes 5,000 Python rows rather than 43,200.
        """
        self._check_open()

        def read() -> list[list[tuple[int, int, int, int]]]:
            assert self._rconn is not None
            conn = self._rconn
            out: list[list[tuple[int, int, int, int]]] = []
            for journey, slo, since, until, bucket in requests:
                size = max(1, int(bucket))
                if size == 1:
                    rows = conn.execute(
                        "SELECT minute, good, total, excluded FROM minute_counts WHERE journey = ? "
                        "AND slo = ? AND minute >= ? AND minute < ? ORDER BY minute",
                        (journey, slo, since, until)).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT ? + (minute - ?) / ? * ? AS b, SUM(good), SUM(total), SUM(excluded) "
                        "FROM minute_counts WHERE journey = ? AND slo = ? AND minute >= ? AND minute < ? "
                        "GROUP BY b ORDER BY b", (since, since, size, size, journey, slo, since, until)).fetchall()
                out.append(rows)
            return out

        return await self._on_reader(read)

    async def duration_quantiles(self, journey: str, since: float, until: float,
                                 quantiles: tuple[float, ...] = (0.5, 0.95),
                                 ) -> tuple[int, list[float | None]]:
        """(runs, durations at `quantiles`) of the runs not agent-side started in [since, until).

        Nearest rank: the q-quantile of n sorted durations is the ceil(q * n)-th; None without runs.
        """
        self._check_open()

        def read() -> tuple[int, list[float | None]]:
            assert self._rconn is not None
            where = "WHERE journey = ? AND started_at >= ? AND started_at < ? AND agent_side = 0"
            args = (journey, since, until)
            n = int(self._rconn.execute(f"SELECT COUNT(*) FROM runs {where}", args).fetchone()[0])
            out: list[float | None] = []
            for q in quantiles:
                if n == 0:
                    out.append(None)
                    continue
                rank = min(n, max(1, int(-(-(q * n - 1e-9) // 1))))  # ceil
                row = self._rconn.execute(f"SELECT duration_s FROM runs {where} ORDER BY duration_s "
                                          "LIMIT 1 OFFSET ?", (*args, rank - 1)).fetchone()
                out.append(float(row[0]))
            return n, out

        return await self._on_reader(read)

    async def duration_buckets(self, journey: str, since: float, until: float,
                               bucket_s: float) -> list[tuple[int, int, float, float, int]]:
        """(bucket, runs, mean duration, max duration, runs not passed) per bucket of `bucket_s`
        seconds from `since`, for the runs not agent-side; empty buckets are left out."""
        rows = await self._query(
            "SELECT CAST((started_at - ?) / ? AS INTEGER) AS b, COUNT(*), AVG(duration_s), MAX(duration_s), "
            "SUM(outcome != 'success') FROM runs WHERE journey = ? AND started_at >= ? AND started_at < ? "
            "AND agent_side = 0 GROUP BY b ORDER BY b", (since, bucket_s, journey, since, until))
        return [(int(b), int(n), float(avg), float(top), int(bad)) for b, n, avg, top, bad in rows]

    async def failed_runs(self, journey: str, limit: int = 10, since: float | None = None,
                          until: float | None = None) -> list[dict[str, Any]]:
        """The journey's latest results that did not pass (Result JSON dicts), newest first."""
        rows = await self._query(
            "SELECT result_json FROM runs WHERE journey = ? AND started_at >= ? AND started_at < ? "
            "AND outcome != 'success' ORDER BY started_at DESC LIMIT ?",
            (journey, float("-inf") if since is None else since, float("inf") if until is None else until,
             max(0, limit)))
        return [json.loads(r[0]) for r in rows]

    async def runs_between(self, journey: str, since: float, until: float,
                           limit: int = 50) -> list[dict[str, Any]]:
        """The journey's latest results started in [since, until), newest first."""
        rows = await self._query(
            "SELECT result_json FROM runs WHERE journey = ? AND started_at >= ? AND started_at < ? "
            "ORDER BY started_at DESC LIMIT ?", (journey, since, until, max(0, limit)))
        return [json.loads(r[0]) for r in rows]

    # -- runs, counts and alert states (committed data only) -------------------------------

    async def runs(self, journey: str, limit: int = 50) -> list[dict[str, Any]]:
        """The journey's latest results (Result JSON dicts), newest first."""
        rows = await self._query("SELECT result_json FROM runs WHERE journey = ? "
                                 "ORDER BY started_at DESC LIMIT ?", (journey, max(0, limit)))
        return [json.loads(r[0]) for r in rows]

    async def last_runs(self) -> dict[str, dict[str, Any]]:
        """The latest result of every journey in the store."""
        rows = await self._query(
            JOURNEYS_CTE + "SELECT name, (SELECT result_json FROM runs WHERE journey = j.name "
            "ORDER BY started_at DESC LIMIT 1) FROM j WHERE name IS NOT NULL")
        return {name: json.loads(doc) for name, doc in rows}

    async def journey_names(self) -> list[str]:
        """Names of the journeys with runs in the store, sorted."""
        return [r[0] for r in await self._query(JOURNEYS_CTE + "SELECT name FROM j WHERE name IS NOT NULL")]

    async def minute_counts(self, slo: str, journey: str, since_minute: int,
                            until_minute: int) -> list[tuple[int, int, int, int]]:
        """(minute, good, total, excluded) for since_minute <= minute < until_minute, ascending.

        `slo=''` gives the journey's own counts.
        """
        rows = await self._query(
            "SELECT minute, good, total, excluded FROM minute_counts WHERE journey = ? AND slo = ? "
            "AND minute >= ? AND minute < ? ORDER BY minute", (journey, slo, since_minute, until_minute))
        return rows

    async def run_count(self) -> int:
        return int((await self._query("SELECT COUNT(*) FROM runs"))[0][0])

    async def get_alert_states(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(slo, severity) -> {"state", "since", "last_notified", "details"}."""
        rows = await self._query(
            "SELECT slo, severity, state, since, last_notified, details FROM alert_state")
        return {(slo, sev): {"state": state, "since": since, "last_notified": notified,
                             "details": json.loads(details)}
                for slo, sev, state, since, notified, details in rows}
