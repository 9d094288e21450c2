"""The FUSE layer's changes: open, read, write, create, rename, delete... through the spec.

Every method takes inodes and names as the kernel gives them and raises an
:class:`~.errors.EngineError` (with its errno) or a store error the FUSE layer maps (NameTaken
EEXIST, NotEmpty ENOTEMPTY, ForbiddenName its errno, UnknownItem ENOENT, InvalidPlacement
EINVAL). Bytes live in ``content/<ino>``; a handle that may read it holds its own descriptor,
so an item evicted, replaced or deleted while a process has it open keeps serving that process
exactly what it opened (POSIX), and eviction never takes an open item (the handle is
registered under the writer before anything else happens).

Writes. The first write to a clean file fires ``local_modified`` (HYDRATED -> DIRTY_LOCAL, an
upload intent). Later ones are coalesced: the new size and mtime are kept here and given to
the store with ``note_write`` at most every ``COALESCE`` seconds, and at every ``flush``,
``fsync`` and ``release``, and before an upload takes its snapshot, so a copy of a gigabyte
costs a handful of transactions, not one per block. Until then :meth:`LocalOps.attrs` shows the
size and mtime the file really has. ``open(O_TRUNC)`` and a truncate to 0 are
``local_overwritten``: no download is needed for bytes about to be replaced. A write that
grows the cache past its limit raises CacheFull (ENOSPC) and writes nothing.

Renames. A rename over an existing file replaces it, as POSIX says. When the source was never
uploaded and the target is on the server (an editor's save through a temporary file: gedit,
VS Code, LibreOffice, rsync, git's lock files), the *target* keeps its inode and its server id
and takes the source's bytes as ``local_overwritten``, and the source's row goes: the upload
then replaces the server's item, so its version history, sharing and id survive the save. The
new name therefore refers to the target's inode, not the source's: :meth:`LocalOps.rename`
returns the inode the new name holds so the FUSE layer can tell the kernel. The two events and
the bytes follow each other safely: the source's bytes are staged (a hard link) before the one
transaction that fires both, and moved into place after it (see :mod:`.content`).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from onemount import mutations
from onemount.engine.errors import EngineError, ReadOnlyMount
from onemount.engine.handles import Handle
from onemount.engine.hydrator import BACKGROUND, CACHED, reachable
from onemount.engine.sink import report
from onemount.statemachine import InvalidTransition
from onemount.store import Fired, NameTaken, StateManager, UnknownItem
from onemount.store import queries as q
from onemount.store.events import (
    LocalCreated,
    LocalDeleted,
    LocalModified,
    LocalOverwritten,
    LocalRenamed,
    LocalTimesChanged,
    WritersClosed,
)
from onemount.store.item_bindings import Row

if TYPE_CHECKING:
    from onemount.engine.engine import Engine

log = logging.getLogger(__name__)

#: Seconds a later write's size and mtime may wait in memory before the store hears of them.
COALESCE = 0.5


class BadHandle(EngineError):
    """A handle the kernel should not have used: unknown, or read-only for a write."""

    errno = errno.EBADF


class IsADirectory(EngineError):
    errno = errno.EISDIR


class NotADirectory(EngineError):
    errno = errno.ENOTDIR


@dataclass
class _Pending:
    """A dirty file's size and mtime that the store has not been told yet."""

    size: int
    mtime: float
    since: float  # trio time of the first write it holds


class LocalOps:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._fds: dict[int, int] = {}  # fh -> descriptor of content/<ino>
        self._sizes: dict[int, int] = {}  # ino -> size of a file open for writing
        self._pending: dict[int, _Pending] = {}
        self._activity: dict[int, float] = {}  # ino -> trio time of its last local change
        #: ino -> readers opened before its bytes were complete: they have no descriptor yet.
        self._undescribed: dict[int, set[int]] = {}

    # -- what the FUSE layer reads besides the store ---------------------------------------------

    def attrs(self, ino: int) -> q.Attrs | None:
        """getattr's answer: the store's, with the size and mtime of writes not noted yet."""
        found = q.attrs(self._engine.store.reader, ino)
        pending = self._pending.get(ino)
        if found is None or pending is None:
            return found
        return found._replace(size=pending.size, mtime=pending.mtime)

    def last_change(self, ino: int) -> float | None:
        """Trio time of the last local change to ``ino`` (the outbox's idle delay)."""
        return self._activity.get(ino)

    async def settle(self, ino: int) -> None:
        """Give the store ``ino``'s writes kept in memory (an upload is about to snapshot)."""
        await self._flush(ino)

    # -- open files ------------------------------------------------------------------------------

    async def open(self, ino: int, *, write: bool, truncate: bool) -> Handle:
        """Open ``ino``. A GHOST file opened to read returns at once (reads wait for their
        range); opened to write (without O_TRUNC), it is downloaded first. Offline, a GHOST
        file fails at once with ContentOffline (ENETDOWN)."""
        engine = self._engine
        if (write or truncate) and engine.config.read_only:
            raise ReadOnlyMount("the mount is read-only")
        row = self._row(ino)
        if row["kind"] == "folder":
            raise IsADirectory(f"inode {ino} is a folder")
        async with engine.store.locked():
            handle = engine.files.open(ino, write=write or truncate)
        try:
            if truncate:
                await engine.store.write_inline(lambda m: self._overwrite(m, ino))
                self._mark(ino)
            elif not self._complete(ino):
                engine.hydrator.start(ino)
                if write:
                    await engine.hydrator.wait_cached(ino, timeout=engine.config.hydrate_timeout)
            if handle.write or self._complete(ino):
                fd = self._descriptor(handle)
                if handle.write and ino not in self._sizes:
                    self._sizes[ino] = os.fstat(fd).st_size
            else:
                self._undescribed.setdefault(ino, set()).add(handle.fh)
        except BaseException:
            await self._forget(handle)
            raise
        engine.content.touch(ino)
        return handle

    async def read(self, fh: int, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset``; a HYDRATING file's as soon as they are here."""
        handle = self._handle(fh)
        fd = self._fds.get(fh)
        if fd is None and self._complete(handle.ino):
            fd = self._descriptor(handle)
        if fd is None and mutations.on("offline_ghost_empty") and not reachable(self._engine):
            return b""
        if fd is None:
            hydrator = self._engine.hydrator
            timeout = self._engine.config.hydrate_timeout
            await hydrator.wait_for(handle.ino, offset, size, timeout=timeout)
            data = hydrator.pread(handle.ino, offset, size)  # no await since wait_for
            if data is not None:
                return data
            fd = self._descriptor(handle)
        return os.pread(fd, size, offset)

    async def write(self, fh: int, offset: int, data: bytes) -> int:
        handle = self._handle(fh)
        if not handle.write:
            raise BadHandle(f"handle {fh} is not open for writing")
        ino = handle.ino
        fd = self._fds[fh]
        size = self._sizes.get(ino, 0)
        growth = offset + len(data) - size
        content = self._engine.content
        if growth > 0 and not content.reserve(growth):
            await content.make_room(growth)
        written = os.pwrite(fd, data, offset)
        self._sizes[ino] = max(size, offset + written)
        await self._changed(ino, self._sizes[ino])
        return written

    async def flush(self, fh: int) -> None:
        handle = self._handle(fh)
        if handle.write:
            await self._flush(handle.ino)

    async def fsync(self, fh: int, *, datasync: bool) -> None:
        handle = self._handle(fh)
        fd = self._fds.get(fh)
        if handle.write:
            await self._flush(handle.ino)
        if fd is not None:
            await trio.to_thread.run_sync(os.fdatasync if datasync else os.fsync, fd)

    async def release(self, fh: int) -> None:
        """Close ``fh``. The last writer's close starts the upload's idle delay, and applies a
        remote version that arrived while the file was open for writing and was not touched."""
        engine = self._engine
        handle = self._handle(fh)
        ino = handle.ino
        if handle.write:
            await self._flush(ino)
        fired: Fired | None = None
        async with engine.store.locked() as m:
            engine.files.release(fh)
            last_writer = handle.write and not engine.files.writing(ino)
            if last_writer:
                row = m.peek(ino)
                if row and row["state"] == "HYDRATED" and row["conflict_remote_etag"]:
                    fired = m.fire(ino, WritersClosed())
        self._described(handle)
        fd = self._fds.pop(fh, None)
        if fd is not None:
            os.close(fd)
        if last_writer:
            self._sizes.pop(ino, None)
            self._mark(ino)
        if fired is not None:
            report(engine.sink, [fired])
            if fired.target == "HYDRATING":
                engine.hydrator.request(ino, priority=BACKGROUND)
        if not engine.files.is_open(ino):
            engine.content.drop(ino)

    # -- names -----------------------------------------------------------------------------------

    async def create(self, parent: int, name: str, mode: int) -> tuple[int, Handle]:
        """A new empty file, open for writing (its upload waits for the idle delay)."""
        self._writable()
        engine = self._engine
        now = time.time()
        payload = LocalCreated(parent=parent, name=name, kind="file", size=0, mtime=now, mode=mode)
        async with engine.store.locked() as m:
            fired = m.fire(None, payload)
            ino = fired.ino
            fd = os.open(
                engine.cache.content(ino), os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600
            )
            handle = engine.files.open(ino, write=True)
            _inherit_pin(m, parent, ino)
        self._fds[handle.fh] = fd
        self._sizes[ino] = 0
        self._mark(ino)
        report(engine.sink, [fired])
        return ino, handle

    async def mkdir(self, parent: int, name: str, mode: int) -> int:
        self._writable()
        engine = self._engine
        payload = LocalCreated(
            parent=parent, name=name, kind="folder", size=0, mtime=time.time(), mode=mode
        )
        async with engine.store.locked() as m:
            fired = m.fire(None, payload)
            _inherit_pin(m, parent, fired.ino)
        self._mark(fired.ino)
        report(engine.sink, [fired])
        return fired.ino

    async def unlink(self, parent: int, name: str) -> None:
        """Delete a file; a process that has it open keeps reading and writing it (POSIX)."""
        self._writable()
        row = self._lookup(parent, name)
        if row["kind"] == "folder":
            raise IsADirectory(f"{name!r} is a folder")
        await self._delete(row)

    async def rmdir(self, parent: int, name: str) -> None:
        self._writable()
        row = self._lookup(parent, name)
        if row["kind"] != "folder":
            raise NotADirectory(f"{name!r} is not a folder")
        await self._delete(row)

    async def rename(
        self, parent: int, name: str, new_parent: int, new_name: str, *, noreplace: bool
    ) -> int:
        """Rename or move; returns the inode the new name holds afterwards (see the module)."""
        self._writable()
        engine = self._engine
        source = self._lookup(parent, name)
        target = q.lookup(engine.store.reader, new_parent, new_name)
        ino = int(source["ino"])
        if target is not None and int(target["ino"]) == ino:
            target = None  # the same item: a change of case, or a rename onto itself
            if (parent, name) == (new_parent, new_name):
                return ino
        if target is not None:
            if noreplace:
                raise NameTaken(f"{new_name!r} exists")
            if target["kind"] == "folder" and source["kind"] != "folder":
                raise IsADirectory(f"{new_name!r} is a folder")
            if target["kind"] != "folder" and source["kind"] == "folder":
                raise NotADirectory(f"{new_name!r} is not a folder")
        moved = LocalRenamed(parent=new_parent, name=new_name)
        if target is not None and self._takes_over(source, target):
            return await self._replace_in_place(source, target)
        if target is not None:
            await self._hydrate_for_readers(int(target["ino"]))
        async with engine.store.locked() as m:
            if target is not None:
                self._hold_for_readers(int(target["ino"]))
            with m.transaction():
                fired = []
                if target is not None:
                    detail = f"replaced by inode {ino} (rename)"
                    fired.append(m.apply(int(target["ino"]), LocalDeleted(), detail))
                fired.append(m.apply(ino, moved, None))
        if target is not None:
            engine.hydrator.cancel(int(target["ino"]))
            engine.content.drop(int(target["ino"]))
        if mutations.on("rename_cancels_upload"):
            await engine.store.write_inline(lambda m: mutations.cancel_uploads(m, ino))
        self._mark(ino)
        report(engine.sink, fired)
        return ino

    def _takes_over(self, source: Row, target: Row) -> bool:
        """The editor's-save case: a never-uploaded file over a file the server has."""
        files = self._engine.files
        return (
            source["kind"] == "file"
            and target["kind"] == "file"
            and source["remote_id"] is None
            and target["remote_id"] is not None
            and self._complete(int(source["ino"]))
            and not files.writing(int(source["ino"]))
            and not files.writing(int(target["ino"]))
        )

    async def _replace_in_place(self, source: Row, target: Row) -> int:
        """``target`` takes ``source``'s bytes (local_overwritten); ``source``'s row goes."""
        engine = self._engine
        src, dst = int(source["ino"]), int(target["ino"])
        await self._flush(src)
        await self._hydrate_for_readers(dst)
        async with engine.store.locked() as m:
            self._hold_for_readers(dst)  # they keep the bytes they opened, not the new ones
            row = m.peek(src)
            if row is None:
                raise UnknownItem(f"no inode {src}")
            size = os.stat(engine.cache.content(src)).st_size
            mtime = float(row["mtime"] or time.time())
            overwritten = LocalOverwritten(size=size, mtime=mtime, cached_hash=None)
            with m.transaction():
                fired = [
                    m.apply(dst, overwritten, f"took the bytes of inode {src} (rename over it)"),
                    m.apply(src, LocalDeleted(), f"renamed over inode {dst}, which kept its id"),
                ]
                engine.content.stage(dst, src)
            engine.content.unstage(dst, src)
            m.set_attrs(dst, mtime=mtime, mode=source["mode"])
        engine.hydrator.cancel(dst)
        self._mark(dst)
        report(engine.sink, fired)
        engine.sink.entry_changed(int(target["parent_ino"]), str(target["name"]))
        return dst

    async def _delete(self, row: Row) -> None:
        engine = self._engine
        ino = int(row["ino"])
        await self._hydrate_for_readers(ino)
        async with engine.store.locked() as m:
            self._hold_for_readers(ino)
            fired = m.fire(ino, LocalDeleted())
        engine.hydrator.cancel(ino)
        engine.content.drop(ino)
        self._pending.pop(ino, None)
        self._mark(ino)
        report(engine.sink, [fired])

    # -- attributes ------------------------------------------------------------------------------

    async def truncate(self, ino: int, size: int) -> None:
        """Set the size; to 0 it is an overwrite, otherwise a change to the bytes we hold."""
        self._writable()
        engine = self._engine
        if size == 0:
            await engine.store.write_inline(lambda m: self._overwrite(m, ino))
            self._mark(ino)
            return
        self._row(ino)
        if not self._complete(ino):
            engine.hydrator.start(ino)
            await engine.hydrator.wait_cached(ino, timeout=engine.config.hydrate_timeout)
        path = engine.cache.content(ino)
        if mutations.on("truncate_not_uploaded"):
            return os.truncate(path, size)
        growth = size - os.stat(path).st_size
        if growth > 0:
            await engine.content.make_room(growth)
        else:
            engine.content.released(-growth)
        await self._flush(ino)
        os.truncate(path, size)
        if ino in self._sizes:
            self._sizes[ino] = size
        now = time.time()
        await engine.store.write_inline(lambda m: self._note(m, ino, size, now))
        self._mark(ino)

    async def set_times(self, ino: int, *, mtime: float | None) -> None:
        """Set the mtime, here and on the server (spec: local_times_changed).

        An item the server has gets a move that carries the time (a PATCH of its
        ``fileSystemInfo``); a create, or an upload in flight, carries it itself. Until the
        server has it, a delta echo leaves the row's time alone, so ``rsync -a`` finds the
        times it set when it runs again. The same time again changes nothing.
        """
        self._writable()
        if mtime is None:
            return
        engine = self._engine
        await self._flush(ino)  # a write's mtime noted later must not undo this one
        row = self._row(ino)
        if row["mtime"] is not None and float(row["mtime"]) == mtime:
            return
        if row["parent_ino"] is None:
            # The drive's root takes no PATCH (Graph refuses to change it): its time is kept
            # here until the server's next word on the root, so ``rsync -a src/ mount/``,
            # which sets the times of ``.``, does not fail for it.
            await engine.store.write_inline(lambda m: m.set_attrs(ino, mtime=mtime))
            return
        fired = await engine.store.write_inline(
            lambda m: m.fire(ino, LocalTimesChanged(mtime=mtime))
        )
        self._mark(ino)  # a change like a write: an upload waiting for quiet waits again
        report(engine.sink, [fired])

    async def set_pinned(self, ino: int, pinned: bool) -> None:
        """Keep ``ino`` (a folder: everything below it, and what arrives later) on this machine."""
        self._row(ino)
        await self._engine.content.pin(ino, pinned)

    # -- helpers ---------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self._engine.config.read_only:
            raise ReadOnlyMount("the mount is read-only")

    def _row(self, ino: int) -> Row:
        row = q.get(self._engine.store.reader, ino)
        if row is None or row["state"] == "DELETED_LOCAL":
            raise UnknownItem(f"no inode {ino}")
        return row

    def _lookup(self, parent: int, name: str) -> Row:
        row = q.lookup(self._engine.store.reader, parent, name)
        if row is None:
            raise UnknownItem(f"no {name!r} in folder inode {parent}")
        return row

    def _handle(self, fh: int) -> Handle:
        handle = self._engine.files.get(fh)
        if handle is None:
            raise BadHandle(f"no handle {fh}")
        return handle

    def _complete(self, ino: int) -> bool:
        """``content/<ino>`` holds the item's bytes (a cached state, or local bytes kept)."""
        found = self._engine.store.reader.execute(
            "SELECT state, has_local_changes, virtual FROM items WHERE ino = ?", (ino,)
        ).fetchone()
        if found is None:
            return False
        state, local, virtual = found
        return state in CACHED or bool(virtual) or (state == "ERROR" and bool(local))

    def _descriptor(self, handle: Handle) -> int:
        """The handle's descriptor of ``content/<ino>``, opened on first need."""
        fd = self._fds.get(handle.fh)
        if fd is None:
            flags = (os.O_RDWR if handle.write else os.O_RDONLY) | os.O_CLOEXEC
            fd = self._fds[handle.fh] = os.open(self._engine.cache.content(handle.ino), flags)
            self._described(handle)
        return fd

    def _described(self, handle: Handle) -> None:
        """``handle`` has its descriptor now, or is gone: it no longer waits for one."""
        waiting = self._undescribed.get(handle.ino)
        if waiting is not None:
            waiting.discard(handle.fh)
            if not waiting:
                del self._undescribed[handle.ino]

    async def _hydrate_for_readers(self, ino: int) -> None:
        """Before ``ino`` is deleted or replaced: the whole file for readers still waiting.

        A process that opened a GHOST file reads from the download until the bytes are
        complete, and only then gets a descriptor of ``content/<ino>``. Once the row is
        deleted (or replaced) nothing would download it any more and the reader would get
        EIO; POSIX says it reads what it opened until it closes it. So the delete waits for
        the download the reader started, as long as the reader itself would wait (only a file
        open by a reader that has not got its bytes yet costs the wait). A download that
        fails leaves the readers the error they would have had anyway, and the delete goes
        on: it is the user's decision.
        """
        if not self._undescribed.get(ino) or self._complete(ino):
            return
        engine = self._engine
        try:
            await engine.hydrator.wait_cached(ino, timeout=engine.config.hydrate_timeout)
        except EngineError as exc:
            log.info("inode %d deleted while its readers waited for it: %s", ino, exc)

    def _hold_for_readers(self, ino: int) -> None:
        """Give each waiting reader its descriptor of the complete ``content/<ino>`` (under
        the writer, right before the transaction that deletes or replaces the row)."""
        if not self._complete(ino):
            return
        for fh in list(self._undescribed.get(ino, ())):
            handle = self._engine.files.get(fh)
            if handle is not None:
                self._descriptor(handle)

    async def _forget(self, handle: Handle) -> None:
        """Undo an open that failed part-way."""
        self._described(handle)
        fd = self._fds.pop(handle.fh, None)
        if fd is not None:
            os.close(fd)
        async with self._engine.store.locked():
            self._engine.files.release(handle.fh)

    def _mark(self, ino: int) -> None:
        self._activity[ino] = trio.current_time()
        self._engine.outbox.wake()

    def _overwrite(self, m: StateManager, ino: int) -> None:
        """O_TRUNC or truncate(0): fire, then empty the file (under the writer)."""
        engine = self._engine
        row = m.peek(ino)
        if row is None or row["state"] == "DELETED_LOCAL":
            raise UnknownItem(f"no inode {ino}")
        had_bytes = row["cached_hash"] is not None
        now = time.time()
        fired = m.fire(ino, LocalOverwritten(size=0, mtime=now, cached_hash=None))
        self._pending.pop(ino, None)
        path = engine.cache.content(ino)
        if had_bytes and path.exists():  # the bytes every open descriptor shares: in place
            engine.content.released(os.stat(path).st_size)
            os.truncate(path, 0)
        else:  # stale bytes a reader of an older version may hold open: a new file
            path.unlink(missing_ok=True)
            path.touch(0o600)
        if ino in self._sizes:
            self._sizes[ino] = 0
        engine.hydrator.cancel(ino)
        report(engine.sink, [fired])

    async def _changed(self, ino: int, size: int) -> None:
        """A write landed: tell the store now (the first) or soon (the ones after)."""
        now = trio.current_time()
        self._activity[ino] = now
        pending = self._pending.get(ino)
        if pending is not None:
            pending.size, pending.mtime = size, time.time()
            if now - pending.since >= COALESCE:
                await self._flush(ino)
            return
        found = self._engine.store.reader.execute(
            "SELECT state FROM items WHERE ino = ?", (ino,)
        ).fetchone()
        if found is not None and found[0] in ("DIRTY_LOCAL", "CONFLICT"):
            self._pending[ino] = _Pending(size, time.time(), now)
            return
        mtime = time.time()
        await self._engine.store.write_inline(lambda m: self._note(m, ino, size, mtime))
        self._engine.outbox.wake()

    async def _flush(self, ino: int) -> None:
        pending = self._pending.pop(ino, None)
        if pending is not None:
            await self._engine.store.write_inline(
                lambda m: self._note(m, ino, pending.size, pending.mtime)
            )

    def _note(self, m: StateManager, ino: int, size: int, mtime: float) -> None:
        """The store hears of a write: note it on a dirty item, fire local_modified otherwise."""
        if m.note_write(ino, size=size, mtime=mtime):
            return
        row = m.peek(ino)
        if row is None or row["state"] == "DELETED_LOCAL":
            return  # deleted while open: the bytes go with the last descriptor
        try:
            fired = m.fire(ino, LocalModified(size=size, mtime=mtime, cached_hash=None))
        except InvalidTransition:
            if row["state"] != "HYDRATED" or not row["virtual"]:
                raise
            return  # a virtual entry's bytes are the FUSE layer's own
        report(self._engine.sink, [fired])


def _inherit_pin(m: StateManager, parent: int, ino: int) -> None:
    """A new item in a pinned folder is pinned (its bytes are here: nothing to download)."""
    found = m.peek(parent)
    if found is not None and found["pinned"]:
        m.set_pinned(ino, True)


__all__ = ["COALESCE", "BadHandle", "IsADirectory", "LocalOps", "NotADirectory"]
