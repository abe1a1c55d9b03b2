"""Logging goes through a writer thread: formats right, never blocks the caller, drops when far behind."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import struct
import termios
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from agent.daemon.logs import QUEUE_SIZE, log_run, setup_logging, stop_logging
from agent.probe.result import Outcome, RunResult, StepResult


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    stop_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


def result(outcome: Outcome, error: str | None = None) -> RunResult:
    step = StepResult("get", outcome, 0.25, kind="http", error=error, error_type="assertion" if error else None)
    return RunResult(journey="login", outcome=outcome, started_at=datetime.now(UTC), duration_s=0.25,
                     trace_id="ab" * 16, error_type=step.error_type, steps=(step,))


def test_json_lines_carry_the_run_fields_and_the_exception() -> None:
    stream = io.StringIO()
    setup_logging("json", "info", stream=stream)
    log_run(result(Outcome.FAILURE, "expected status == 200, saw 503"))
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("journeyprobe.test").exception("it failed: %s", "badly")
    stop_logging()  # the thread writes what is queued
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["journey"] == "login" and lines[0]["outcome"] == "failure"
    assert lines[0]["level"] == "warning" and lines[0]["error_type"] == "assertion"
    assert lines[1]["msg"] == "it failed: badly" and "ValueError: boom" in lines[1]["exc"]


def test_a_successful_run_is_not_logged_at_warning_level() -> None:
    stream = io.StringIO()
    setup_logging("text", "warning", stream=stream)
    log_run(result(Outcome.SUCCESS))
    log_run(result(Outcome.ERROR, "connection refused"))
    stop_logging()
    text = stream.getvalue()
    assert "success" not in text
    assert "run login error" in text and "connection refused" in text


def test_a_stuck_log_reader_never_blocks_the_caller() -> None:
    """stderr is a pipe nobody drains: the writer thread blocks, the callers do not; the overflow is counted."""
    read_end, write_end = os.pipe()
    pipe_size = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
    stream = os.fdopen(write_end, "w", buffering=1)
    handler = setup_logging("text", "info", stream=stream)
    log = logging.getLogger("journeyprobe.test")
    # One record longer than the pipe holds: once its first bytes are in the pipe, the writer thread has
    # taken it (the queue is empty) and is blocked writing the rest, for as long as nobody reads.
    log.info("y" * (4 * pipe_size))
    deadline = time.monotonic() + 10
    while _bytes_waiting(read_end) == 0:
        assert time.monotonic() < deadline, "the writer thread never wrote"
        time.sleep(0.005)
    overflow = 2000
    finished = threading.Event()

    def log_many() -> None:
        for _ in range(QUEUE_SIZE + overflow):
            log.info("x" * 100)
        finished.set()

    caller = threading.Thread(target=log_many, daemon=True)
    caller.start()
    returned = finished.wait(timeout=30)
    dropped = handler.dropped
    drain = threading.Thread(target=lambda: _drain(read_end), daemon=True)
    drain.start()  # unblock the writer so that the thread can stop
    stop_logging()
    stream.close()
    drain.join(timeout=10)
    assert returned, "a log call blocked on the stuck reader"
    assert dropped == overflow  # the queue held QUEUE_SIZE records; the rest were dropped, not waited for


def _bytes_waiting(fd: int) -> int:
    """Bytes written into the pipe and not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _drain(fd: int) -> None:
    deadline = time.monotonic() + 10
    with os.fdopen(fd, "rb") as reader:
        while time.monotonic() < deadline and reader.read(65536):
            pass
