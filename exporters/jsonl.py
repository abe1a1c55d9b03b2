"""`exporters.jsonl`: one Result JSON line per finished run, in a size-rotated file.

The sink only puts the result on a bounded queue; a writer thread serialises, writes and
rotates (`results.jsonl` -> `results.jsonl.1` -> ... -> `results.jsonl.N`). When the queue
is full the result is dropped and counted in `dropped`: a slow disk never holds up runs.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import IO, Any

from agent.core import jsonfast
from agent.probe.result import RunResult

log = logging.getLogger("journeyprobe.exporters.jsonl")
_STOP = object()
BATCH = 256


class JsonlSink:
    """Appends `result.to_dict()` as JSON lines to `path`, rotated at `max_bytes` with `backups` kept."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = 100 * 1024 * 1024, backups: int = 3,
                 max_queue: int = 10_000) -> None:
        self.path = Path(path)
        self.max_bytes = max(1, max_bytes)
        self.backups = max(0, backups)
        self.written = 0
        self.dropped = 0
        self.write_errors = 0
        self._count_lock = threading.Lock()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, max_queue))
        self._file: IO[str] | None = None
        self._size = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="journeyprobe-jsonl", daemon=True)
        self._thread.start()

    def __call__(self, result: RunResult, journey: Any = None) -> None:
        """The daemon's sink: queue the result, or drop and count it when the writer is behind."""
        if self._closed:
            self._drop(1)
            return
        try:
            self._queue.put_nowait(result)
        except queue.Full:
            dropped = self._drop(1)
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("jsonl sink %s is behind: %d results dropped so far", self.path, dropped)

    def _drop(self, count: int) -> int:
        with self._count_lock:
            self.dropped += count
            return self.dropped

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout_s: float = 5.0) -> bool:
        """Write what is queued, close the file; True if the writer finished within `timeout_s`."""
        if not self._closed:
            self._closed = True
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                return False
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- the writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is _STOP for item in batch)
            lines = [jsonfast.dumps(item.to_dict()) + "\n"
                     for item in batch if isinstance(item, RunResult)]
            try:
                self._write(lines)
            except OSError as exc:
                self.write_errors += 1
                self._drop(len(lines))
                log.error("jsonl sink %s: cannot write (%s); %d results dropped", self.path, exc, len(lines))
                self._close_file()
        self._close_file()

    def _write(self, lines: list[str]) -> None:
        for line in lines:
            size = len(line.encode("utf-8"))
            file = self._open()
            if self._size and self._size + size > self.max_bytes:
                self._rotate()
                file = self._open()
            file.write(line)
            self._size += size
            self.written += 1
        if self._file is not None:
            self._file.flush()

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across batches
            self._size = self._file.tell()
        return self._file

    def _rotate(self) -> None:
        self._close_file()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
            self._size = 0
