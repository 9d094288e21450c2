"""Which files processes hold open through the mount: the FUSE layer's facts the spec reads.

The spec's guards ``has_open_handles`` (an eviction) and ``has_writers`` (a remote change, a
remote delete, a conflict resolution) are about handles, which live here, in memory: after a
crash no process holds any. The table changes only while the store's writer is held
(:meth:`~onemount.engine.store.EngineStore.locked`), so a transaction that reads it cannot race
an ``open()`` or a ``release()``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass


@dataclass(frozen=True)
class Handle:
    """One open file: its number (the FUSE ``fh``), its inode, whether it may write."""

    fh: int
    ino: int
    write: bool


class OpenFiles:
    """Open handles per inode; the writers among them."""

    def __init__(self) -> None:
        self._handles: dict[int, Handle] = {}
        self._open: Counter[int] = Counter()
        self._writers: Counter[int] = Counter()
        self._numbers = itertools.count(1)

    def open(self, ino: int, *, write: bool) -> Handle:
        handle = Handle(next(self._numbers), ino, write)
        self._handles[handle.fh] = handle
        self._open[ino] += 1
        if write:
            self._writers[ino] += 1
        return handle

    def get(self, fh: int) -> Handle | None:
        return self._handles.get(fh)

    def release(self, fh: int) -> Handle:
        """Forget ``fh``; the caller sees from :meth:`writing` whether writers remain."""
        handle = self._handles.pop(fh)
        self._open[handle.ino] -= 1
        if not self._open[handle.ino]:
            del self._open[handle.ino]
        if handle.write:
            self._writers[handle.ino] -= 1
            if not self._writers[handle.ino]:
                del self._writers[handle.ino]
        return handle

    def is_open(self, ino: int) -> bool:
        return ino in self._open

    def writing(self, ino: int) -> bool:
        return ino in self._writers

    def writers(self) -> Container[int]:
        """A snapshot of the inodes open for writing (read it while holding the writer)."""
        return frozenset(self._writers)

    def open_inodes(self) -> frozenset[int]:
        return frozenset(self._open)
