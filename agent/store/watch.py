"""The store's file under watch: deleted or replaced while the daemon has it open, and the way back.

SQLite keeps writing to a file that was deleted (the open descriptor keeps the inode alive), so a
deleted store would swallow every later result and vanish at exit. The writer therefore checks,
before each batch and every `flush_interval` when idle, that the path still names the file it
opened (same device and inode). When it does not:

- deleted: everything the open connection still reaches is copied (SQLite's backup API) into a
  new file next to the path, the old connections are closed, and the copy is renamed to the path.
  The history survives and later results go to the file at the path.
- replaced (another file now at the path): the copy is kept as `<path>.replaced-<UTC time>` and
  the file now at the path is opened as the store (migrated; if it is not a store, the daemon
  stays not ready and keeps trying).

While this has not succeeded (say the folder itself is gone) no batch is written: results wait
in the bounded queue, the store reports a problem (readiness is false with that reason), and the
writer tries again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.store.schema import StoreError

log = logging.getLogger("agent.store.sqlite")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FileIdentity:
    device: int
    inode: int


def identity(path: str) -> FileIdentity | None:
    """The identity of the file at `path`; None when there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return FileIdentity(info.st_dev, info.st_ino)


def change(path: str, known: FileIdentity | None) -> str | None:
    """"deleted" or "replaced" when `path` no longer names the file known, else None."""
    if known is None:
        return None
    try:
        now = identity(path)
    except OSError:  # the folder is unreadable or gone: as good as deleted
        return "deleted"
    if now is None:
        return "deleted"
    return None if now == known else "replaced"


def rescue_path(path: str) -> str:
    return f"{path}.rescue-{os.getpid()}"


def rescue(conn: sqlite3.Connection, path: str) -> str:
    """Copy everything `conn` reaches into a new file next to `path` (rollback journal, fully written)."""
    target = rescue_path(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        conn.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")
    except BaseException:
        copy.close()
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise
    copy.close()
    return target


def put_in_place(rescued: str, path: str, what: str) -> str:
    """Move the copy to `path` (deleted) or beside it (replaced); returns where it went."""
    if what == "deleted" and identity(path) is None:
        os.replace(rescued, path)
        return path
    aside = f"{path}.replaced-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    os.replace(rescued, aside)
    return aside


class WatchedFile:
    """The store's side of the watch (a mixin of `Store`): check the file, and recover when it is gone."""

    path: str
    _wconn: sqlite3.Connection | None
    _rconn: sqlite3.Connection | None

    def _start_watch(self) -> None:
        self._identity: FileIdentity | None = None
        self._journal: dict[str, FileIdentity | None] = {}
        self._lost: str | None = None  # "deleted" or "replaced" until recovered
        self._rescued: str | None = None
        self._problem: str | None = None
        self._next_complaint = 0.0

    def problem(self) -> str | None:
        """Why the store cannot take results now (its file was deleted or replaced), else None."""
        return self._problem

    def healthy(self) -> bool:
        return self._problem is None

    def _remember_file(self) -> None:
        """On the writer thread, right after opening: what the path names now is the store's file."""
        if self.path != ":memory:":
            self._identity = identity(self.path)
            self._journal = {suffix: identity(self.path + suffix) for suffix in ("-wal", "-shm")}

    async def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    async def _on_reader(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError

    def _open_writer(self) -> None:
        raise NotImplementedError

    def _open_reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _pending_count(self) -> int:
        raise NotImplementedError

    async def _file_ok(self) -> bool:
        """Whether batches may be written: the path still names the store's file, or it was recovered.

        Call with the store's write lock held."""
        if self.path == ":memory:":
            return True
        if self._lost is None:
            what = await self._on_writer(change, self.path, self._identity)
            if what is None:
                return True
            self._lost = what
            self._problem = f"the result store's file {self.path} was {what} while open; results are held back"
            log.error("result store %s: its file was %s while the agent had it open; nothing more is written "
                      "to the old file, and the store is reopened at the path (see docs/daemon.md)",
                      self.path, what)
        try:
            await self._recover()
        except (OSError, sqlite3.Error, StoreError) as exc:
            if time.monotonic() >= self._next_complaint:
                self._next_complaint = time.monotonic() + 60.0
                log.error("result store %s: cannot reopen it yet (%s); %d results wait in memory",
                          self.path, exc, self._pending_count())
            return False
        self._lost = self._problem = None
        return True

    async def _recover(self) -> None:
        if self._wconn is not None:  # first copy what the old file holds, then let go of it
            self._rescued = await self._on_writer(rescue, self._wconn, self.path)
            await self._on_reader(self._close_reader)
            await self._on_writer(self._close_writer)
        if self._rescued is not None:
            where = await self._on_writer(self._put_back, self._rescued, self._lost or "deleted")
            self._rescued = None
            if where != self.path:
                log.error("result store %s: another file is at the path now; it is used as the store, and "
                          "the results until now are kept in %s", self.path, where)
        try:
            await self._on_writer(self._open_writer)
        except BaseException:
            await self._on_writer(self._close_writer)  # not a store (a replacement): try again later
            raise
        self._rconn = await self._on_reader(self._open_reader)
        log.warning("result store %s: reopened; %d results that waited are written now", self.path,
                    self._pending_count())

    def _close_reader(self) -> None:
        if self._rconn is not None and self._rconn is not self._wconn:
            self._rconn.close()
        self._rconn = None

    def _close_writer(self) -> None:
        if self._wconn is not None:
            self._wconn.close()
        self._wconn = None

    def _put_back(self, rescued: str, what: str) -> str:
        """Remove the old file's journal left at the path (SQLite keeps it: the file was gone), then the copy."""
        gone = identity(self.path) is None
        for suffix, known in self._journal.items():
            now = identity(self.path + suffix)
            if now is not None and (gone or now == known):
                os.unlink(self.path + suffix)
        return put_in_place(rescued, self.path, what)

