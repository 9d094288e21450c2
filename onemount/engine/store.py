"""The mount's metadata_v2 as the engine and the FUSE layer share it: one writer, one reader.

The writer (a :class:`~onemount.store.StateManager`) is used by one thread at a time behind a
``CapacityLimiter(1)``: big work (a delta page, an eviction batch) runs in a worker thread
holding it (:meth:`EngineStore.write`), a tiny transaction may run on the trio thread holding it
(:meth:`EngineStore.write_inline`). The reader connection serves point reads on the trio thread
(lookup, getattr, a readdir page): WAL lets it read beside a writer, and it sees every commit.

Holding the limiter is also how facts that live outside SQLite stay consistent with a
transaction: the table of files open for writing (:class:`~.handles.OpenFiles`) changes only
under it, so a delta page or an eviction that reads it inside its transaction cannot race an
``open()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import apsw
import trio

from onemount.names import DriveKind
from onemount.store import StateManager, open_reader

T = TypeVar("T")


class EngineStore:
    """The writer behind its lock, and the trio thread's reader."""

    def __init__(
        self, path: Path, *, worker: str = "engine", drive: DriveKind = DriveKind.BUSINESS
    ):
        self.path = path
        self.manager = StateManager.open(path, worker=worker, drive=drive)
        self.reader: apsw.Connection = open_reader(path)
        self.lock = trio.CapacityLimiter(1)

    async def write(self, fn: Callable[[StateManager], T]) -> T:
        """Run ``fn(manager)`` in a worker thread, holding the writer."""
        return await trio.to_thread.run_sync(fn, self.manager, limiter=self.lock)

    async def write_inline(self, fn: Callable[[StateManager], T]) -> T:
        """Run a small ``fn(manager)`` on the trio thread, holding the writer (no thread hop).

        For point transactions that take well under a millisecond (a create, a rename, the first
        write of a file): a thread round trip would cost more than the work.
        """
        async with self.lock:
            return fn(self.manager)

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[StateManager]:
        """Hold the writer across a few steps on the trio thread (no ``await`` inside, please)."""
        async with self.lock:
            yield self.manager

    def set_drive(self, drive: DriveKind) -> None:
        self.manager.drive = drive

    def close(self) -> None:
        self.reader.close()
        self.manager.close()
