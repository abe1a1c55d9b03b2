"""Logging: plain text or one JSON object a line (`--log-format json`), one line per finished run.

Every line goes through the process's redactor (agent.core.redaction) before it is written.
Records are formatted and written by a thread, never on the event loop: a stderr pipe that a
slow log collector does not drain must not stall the probes. What waits is bounded; beyond
that, records are dropped and counted, not waited for.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
from collections import deque
from datetime import UTC
from typing import IO, Any

from agent.core import redaction
from agent.probe.result import RunResult, format_timestamp

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


QUEUE_SIZE = 10_000


class ThreadedLogHandler(logging.Handler):
    """Keeps records for a writer thread that formats and writes them in batches.

    A record costs the caller a deque append; the thread writes every 100 ms (one write and
    one flush per batch). When `capacity` records wait (the stream is stuck), new ones are
    dropped and counted in `dropped`.
    """

    FLUSH_EVERY_S = 0.1
    STOP_WAIT_S = 5.0

    def __init__(self, stream: IO[str], formatter: logging.Formatter, capacity: int = QUEUE_SIZE) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.stream = stream
        self.capacity = capacity
        self.dropped = 0
        self._records: deque[logging.LogRecord] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="journeyprobe-log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._records) >= self.capacity:
            self.dropped += 1
            return
        # the message is merged now (its arguments may change later); the thread formats the line
        record.msg, record.args = record.getMessage(), None
        self._records.append(record)

    def close(self) -> None:
        """Write what waits and stop the thread, waiting a bounded time (a stuck stream cannot hold up exit)."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.STOP_WAIT_S)
        super().close()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.FLUSH_EVERY_S)
            self._write_waiting()
            if self._stopping and not self._records:
                return

    def _write_waiting(self) -> None:
        lines: list[str] = []
        while self._records:
            record = self._records.popleft()
            try:
                lines.append(redaction.redact(self.format(record)))  # the message, the traceback, the fields
            except Exception:
                self.handleError(record)
        if not lines:
            return
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "cannot write log lines"}))


_handler: ThreadedLogHandler | None = None


def setup_logging(fmt: str = "text", level: str = "info", stream: IO[str] | None = None) -> ThreadedLogHandler:
    """Root logging to `stream` (stderr) through a writer thread; returns the handler (its `dropped`)."""
    global _handler
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_logging()
    _handler = ThreadedLogHandler(stream or sys.stderr, formatter)
    root = logging.getLogger()
    root.handlers[:] = [_handler]
    root.setLevel(level.upper())
    _lean_records()
    for noisy in ("aiohttp.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return _handler


def _lean_records() -> None:
    """Records without what no line of ours prints: the caller's file and line (a walk up the
    stack for every record), the thread and the process (the logging documentation's advice
    on optimization; a run's line is made hundreds of times a second in a big daemon)."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def stop_logging() -> None:
    """Write what waits and stop the writer thread (also run at exit)."""
    global _handler
    if _handler is not None:
        _handler.close()
        _handler = None


atexit.register(stop_logging)


def log_run(result: RunResult) -> None:
    """One line per finished run, at info (warning when it did not pass). Results are already redacted."""
    if not RUN_LOGGER.isEnabledFor(logging.INFO if result.passed else logging.WARNING):
        return
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
