"""What the kernel holds of the mount, and how the engine's changes are pushed into it.

:class:`KernelView` keeps the kernel's lookup count of every inode it knows (raised by each
successful lookup, create, mkdir and each readdirplus entry the kernel accepted; lowered by
``forget``) and the inodes whose bytes changed under the kernel's page cache. It is plain
bookkeeping, so the :class:`~onemount.fs.operations.Operations` work the same without a kernel.

:class:`KernelSink` is the engine's :class:`~onemount.engine.sink.InvalidationSink` for a live
mount. A remote change the engine applied must be visible at once, not when an entry or
attribute timeout runs out, so it drops the kernel's entry for a name (``invalidate_entry``)
and the attributes or pages of an inode (``invalidate_inode``). Both are synchronous and may
wait for the kernel to finish a request in progress (an inode's page lock is held by a read
only the trio thread can answer), so they run in order on a thread of their own, never on the
trio thread; :meth:`KernelSink.flushed` waits until what was queued has been done, which is
how ``onemount sync`` returns only once the mount shows what it synced. Inodes and folders the
kernel does not know are skipped: nothing of them is cached.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Literal

import pyfuse3
import trio

from onemount.store import ROOT_INODE

log = logging.getLogger("onemount.fs")

#: True while a kernel request is being answered (set by :func:`onemount.fs.errors.guarded`).
#: What the engine reports then is the change the kernel is making itself: the kernel has
#: already updated its entries and attributes, and dropping them would only cost it lookups.
answering: contextvars.ContextVar[bool] = contextvars.ContextVar("answering", default=False)


@dataclass
class Alias:
    """A kernel inode that now stands for another item (see :meth:`KernelView.alias`)."""

    real: int
    parent: int
    name: str
    announced: bool = False


class KernelView:
    """Lookup counts per inode, inodes whose cached pages are out of date, and aliases."""

    def __init__(self) -> None:
        self._lookups: dict[int, int] = {}
        self._stale: set[int] = set()
        self._aliases: dict[int, Alias] = {}

    def looked_up(self, ino: int) -> None:
        self._lookups[ino] = self._lookups.get(ino, 0) + 1

    def forget(self, ino: int, count: int) -> None:
        left = self._lookups.get(ino, 0) - count
        if left > 0:
            self._lookups[ino] = left
        else:
            self._lookups.pop(ino, None)
            self._aliases.pop(ino, None)

    def alias(self, kernel_ino: int, real: int, parent: int, name: str) -> None:
        """After a rename the kernel holds ``parent``/``name`` as ``kernel_ino``, but the
        engine kept the name's item ``real`` (an editor's save over a file the server has: the
        target keeps its id and takes the new bytes). Requests on ``kernel_ino`` are answered
        as ``real`` until the kernel forgets it."""
        self._aliases[kernel_ino] = Alias(real, parent, name)

    def resolve(self, ino: int) -> tuple[int, Alias | None]:
        """The item ``ino`` stands for, and its alias when it is seen for the first time
        since the rename (the kernel has moved its entry by then: time to drop it)."""
        found = self._aliases.get(ino)
        if found is None:
            return ino, None
        if found.announced:
            return found.real, None
        found.announced = True
        return found.real, found

    def lookups(self, ino: int) -> int:
        return self._lookups.get(ino, 0)

    def knows(self, ino: int) -> bool:
        """Whether the kernel may hold an entry, attributes or pages of ``ino``."""
        return ino == ROOT_INODE or ino in self._lookups

    def known(self) -> int:
        """How many inodes the kernel holds (a figure for status and tests)."""
        return len(self._lookups)

    def content_changed(self, ino: int) -> None:
        """``ino``'s bytes changed: its next open must not keep the kernel's pages."""
        self._stale.add(ino)

    def keep_cache(self, ino: int) -> bool:
        """For an open of ``ino``: may the kernel keep the pages it has? (Once per change.)"""
        if ino in self._stale:
            self._stale.discard(ino)
            return False
        return True


_Job = tuple[Literal["entry"], int, bytes] | tuple[Literal["inode"], int, bool] | threading.Event


class KernelSink:
    """The engine's invalidation sink on a mounted file system (see the module docstring)."""

    def __init__(self, kernel: KernelView) -> None:
        self.kernel = kernel
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin invalidating (call once the file system is mounted)."""
        self._thread = threading.Thread(
            target=self._invalidate, name="onemount-invalidate", daemon=True
        )
        self._thread.start()

    async def flushed(self) -> None:
        """Return once every invalidation queued before this call has reached the kernel."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        await trio.to_thread.run_sync(done.wait, abandon_on_cancel=True)

    def stop(self) -> None:
        """Stop before the session closes: pyfuse3 must not be called after ``close``."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    # -- InvalidationSink ----------------------------------------------------------------------

    def entry_changed(self, parent: int, name: str) -> None:
        if not answering.get():
            self.drop_entry(parent, name)

    def inode_changed(self, ino: int, *, content: bool) -> None:
        # New bytes are news to the kernel even within a request (a release that applies a
        # remote version held back while the file was being written); new attributes then are
        # the kernel's own doing.
        if content or not answering.get():
            self.drop_inode(ino, content=content)

    # -- what the FUSE layer itself asks for ---------------------------------------------------

    def drop_entry(self, parent: int, name: str) -> None:
        """Make the kernel look ``parent``/``name`` up again."""
        if self._thread is not None and self.kernel.knows(parent):
            self._queue.put(("entry", parent, name.encode()))

    def drop_inode(self, ino: int, *, content: bool) -> None:
        """Make the kernel ask for ``ino``'s attributes again (and its bytes, with content)."""
        if content:
            self.kernel.content_changed(ino)
        if self._thread is not None and self.kernel.knows(ino):
            self._queue.put(("inode", ino, not content))

    def _invalidate(self) -> None:
        while (job := self._queue.get()) is not None:
            if isinstance(job, threading.Event):
                job.set()
                continue
            try:
                if job[0] == "entry":
                    pyfuse3.invalidate_entry(job[1], job[2])
                else:
                    pyfuse3.invalidate_inode(job[1], job[2])
            except FileNotFoundError:
                pass  # the kernel forgot it meanwhile: nothing cached to drop
            except OSError as exc:
                log.warning("invalidating %s %d: %s", job[0], job[1], exc)
