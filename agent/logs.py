"""Logging: plain text or one JSON object a line (`--log-format json`), one line per finished run."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC
from typing import Any

from agent.result import RunResult, format_timestamp

RUN_LOGGER = logging.getLogger("journeyprobe.runs")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": format_timestamp(_utc(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _utc(created: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(created, tz=UTC)


def setup_logging(fmt: str = "text", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_run(result: RunResult) -> None:
    """One line per finished run, at info (warning when it did not pass). Results are already redacted."""
    fields: dict[str, object] = {"journey": result.journey, "outcome": result.outcome.value,
                                 "duration_s": round(result.duration_s, 4),
              "trace_id": result.trace_id, "attempt": result.attempt, "location": result.location}
    if result.error_type:
        fields["error_type"] = result.error_type
        fields["error"] = result.error
    message = f"run {result.journey} {result.outcome.value} in {result.duration_s * 1000:.0f}ms trace={result.trace_id}"
    if result.error:
        message += f": {result.error}"
    RUN_LOGGER.log(logging.INFO if result.passed else logging.WARNING, message, extra={"fields": fields})
