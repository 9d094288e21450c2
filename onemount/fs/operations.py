"""The pyfuse3 operations of a mount: each kernel request becomes store reads and engine calls.

A thin adapter (docs/fs.md). Lookups, attributes, listings and status attributes are read
from the store's reader connection on the trio thread, a few microseconds each, with no
``await`` between the statements of one answer and never the network. Everything that changes
the drive or needs bytes is the engine's (:class:`~onemount.engine.local.LocalOps`): this
module decodes names and flags, keeps the kernel's lookup counts and answers in the kernel's
terms. Every handler runs inside :func:`~onemount.fs.errors.guarded`, so no exception can end
the mount.

Decisions the code below carries out (each explained in docs/fs.md):

* A name is looked up **as written**, up to Unicode normalisation (an NFD name from a Mac is
  found by its NFC spelling). A name differing only in case from an existing one is not found,
  so ``mv notes Notes`` reaches the engine as a rename instead of being a no-op on two names
  of one inode, but it cannot be created either: OneDrive compares names case-insensitively,
  so ``create`` answers EEXIST.
* ``chmod`` is kept on this machine (OneDrive has no permission bits); ``chown`` to the
  mount's owner is accepted and any other ``chown`` is EPERM, as for an unprivileged user.
* Symbolic links, hard links and special files do not exist on OneDrive: EPERM, logged once
  per kind.
* ``rename`` honours ``RENAME_NOREPLACE``; ``RENAME_EXCHANGE`` (and any other flag) is EINVAL,
  since no single Graph request swaps two items.

Without a kernel (the model conformance run, unit tests) the class is driven directly: build
it on an :class:`~onemount.engine.engine.Engine` (no ``sink``: the one it makes keeps the
books and calls no kernel) and pass ``reply`` to collect readdir entries instead of
``pyfuse3.readdir_reply``.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import stat
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import apsw
import pyfuse3

from onemount.fs import status
from onemount.fs.attributes import Owner, Timeouts, entry_attributes, negative_entry
from onemount.fs.errors import guarded
from onemount.fs.kernel import KernelSink, KernelView
from onemount.names import MAX_LOCAL_NAME_BYTES, check_local_component
from onemount.store import ROOT_INODE, queries
from onemount.store.queries import Attrs

if TYPE_CHECKING:
    from onemount.engine.engine import Engine

log = logging.getLogger("onemount.fs")

#: ``pyfuse3.readdir_reply``'s shape: add one entry, True if the kernel's buffer took it.
Reply = Callable[[pyfuse3.ReaddirToken, bytes, pyfuse3.EntryAttributes, int], bool]

_BLOCK = 4096
_FIRST_PAGE = 32  # readdir entries asked of the store before the kernel's buffer size is known
_MAX_PAGE = 1024


class AttrChanges(Protocol):
    """Which attributes a setattr changes (``pyfuse3.SetattrFields``, or any such record)."""

    @property
    def update_atime(self) -> bool: ...
    @property
    def update_mtime(self) -> bool: ...
    @property
    def update_mode(self) -> bool: ...
    @property
    def update_uid(self) -> bool: ...
    @property
    def update_gid(self) -> bool: ...
    @property
    def update_size(self) -> bool: ...


@dataclass(frozen=True)
class Changes:
    """An :class:`AttrChanges` for callers without a kernel (pyfuse3's is read-only)."""

    update_atime: bool = False
    update_mtime: bool = False
    update_mode: bool = False
    update_uid: bool = False
    update_gid: bool = False
    update_size: bool = False


@dataclass
class _Listing:
    """An open folder: its inode, and how many entries the kernel's buffer last took."""

    ino: int
    fit: int = _FIRST_PAGE


class Operations(pyfuse3.Operations):
    """The request handlers of one mount (see the module docstring)."""

    supports_dot_lookup = True  # lookups of "." and ".." (NFS export) are answered
    enable_writeback_cache = False  # measured and decided in docs/fs.md
    enable_acl = True  # the kernel then caches "no ACL" per inode: one xattr trip less per ls -l

    def __init__(
        self,
        engine: Engine,
        *,
        sink: KernelSink | None = None,
        timeouts: Timeouts | None = None,
        owner: Owner | None = None,
        reply: Reply = pyfuse3.readdir_reply,
    ) -> None:
        super().__init__()
        self.engine = engine
        # The mount's sink (the engine reports to it too); without a kernel, one that only
        # keeps the books.
        self.sink = sink or KernelSink(KernelView())
        self.kernel = self.sink.kernel
        self.timeouts = timeouts or Timeouts()
        self.owner = owner or Owner.of_process()
        self._reply = reply
        self._listings: dict[int, _Listing] = {}
        self._listing_numbers = itertools.count(1)
        self._refused_kinds: set[str] = set()

    # -- reading the store ------------------------------------------------------------------------

    @property
    def _reader(self) -> apsw.Connection:
        return self.engine.store.reader

    def _attrs(self, ino: int) -> Attrs:
        """getattr's answer: the store's row with the writes the engine has not noted yet."""
        found = self.engine.local.attrs(ino) or self._unlinked(ino)
        if found is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return found

    def _unlinked(self, ino: int) -> Attrs | None:
        """A file deleted while open whose row is already gone (it never reached the server):
        the processes holding it still ``fstat`` it, and the kernel asks before reading past
        the size it knows. Its bytes are the cache file they hold open."""
        if not self.engine.files.is_open(ino):
            return None
        try:
            found = os.stat(self.engine.cache.content(ino))
        except FileNotFoundError:
            return None
        return Attrs(
            ino, "file", found.st_size, found.st_mtime, None, found.st_mtime, found.st_ctime,
            "DELETED_LOCAL",
        )  # fmt: skip

    def _current(self, attrs: Attrs) -> Attrs:
        """``attrs`` read with a listing or a lookup, brought up to date if the file is being
        written (the engine coalesces its size and mtime; an older size in a readdirplus entry
        would shrink the kernel's idea of a growing file)."""
        if self.engine.files.writing(attrs.ino):
            return self.engine.local.attrs(attrs.ino) or attrs
        return attrs

    def _real(self, ino: int) -> int:
        """The item a kernel inode stands for (see :meth:`KernelView.alias`)."""
        real, first = self.kernel.resolve(ino)
        if first is not None:
            self.sink.drop_entry(first.parent, first.name)
        return real

    def _entry(self, attrs: Attrs) -> pyfuse3.EntryAttributes:
        return entry_attributes(attrs, self.owner, self.timeouts)

    def _known(self, attrs: Attrs) -> pyfuse3.EntryAttributes:
        """``attrs`` as an answer that raises the lookup count (lookup, create, mkdir)."""
        self.kernel.looked_up(attrs.ino)
        return self._entry(attrs)

    def _child(self, parent: int, name: str) -> Attrs | None:
        """The live child of ``parent`` named ``name`` as written (up to normalisation)."""
        row = queries.lookup(self._reader, parent, name)
        if row is None:
            return None
        stored: str = row["name"]
        if stored != name and unicodedata.normalize("NFC", stored) != unicodedata.normalize(
            "NFC", name
        ):
            return None  # the same name in another case: OneDrive's, not ours to alias
        return self._current(Attrs(*(row[field] for field in Attrs._fields)))

    def _parent_of(self, ino: int) -> int:
        row = queries.get(self._reader, ino)
        if row is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        parent = row["parent_ino"]
        return ROOT_INODE if parent is None else int(parent)

    # -- names ------------------------------------------------------------------------------------

    @staticmethod
    def _lookup_name(name: bytes) -> str | None:
        """A name to look up, or None if no item can have it (not UTF-8)."""
        if len(name) > MAX_LOCAL_NAME_BYTES:
            raise pyfuse3.FUSEError(errno.ENAMETOOLONG)
        try:
            return name.decode()
        except UnicodeDecodeError:
            return None

    @staticmethod
    def _existing_name(name: bytes) -> str:
        """The name of an entry the kernel already resolved (unlink, rmdir, rename's source)."""
        return os.fsdecode(name)

    @staticmethod
    def _new_name(name: bytes) -> str:
        """A name the user gives a new entry: a Linux component here, OneDrive's rules in the
        store (both before anything is queued)."""
        text = os.fsdecode(name)
        check_local_component(text)  # not UTF-8, too long for Linux: EINVAL, ENAMETOOLONG
        return text

    # -- entries ----------------------------------------------------------------------------------

    @guarded
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        if name == b".":
            return self._known(self._attrs(parent_inode))
        if name == b"..":
            return self._known(self._attrs(self._parent_of(parent_inode)))
        text = self._lookup_name(name)
        if text is None:
            return negative_entry(self.timeouts)
        found = self._child(parent_inode, text)
        if found is None and not self.engine.delta.enumerated:
            # A first run: the folder may not be listed yet. Ask once; while that fails, say
            # "no such name" without letting the kernel cache it.
            if not await self.engine.delta.list_children(parent_inode):
                raise pyfuse3.FUSEError(errno.ENOENT)
            found = self._child(parent_inode, text)
        if found is None:
            return negative_entry(self.timeouts)
        return self._known(found)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        # Must not raise (pyfuse3 calls it outside any request); bookkeeping only.
        for ino, count in inode_list:
            self.kernel.forget(ino, count)

    @guarded
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return self._entry(self._attrs(self._real(inode)))

    @guarded
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: AttrChanges,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        if (fields.update_uid and attr.st_uid != self.owner.uid) or (
            fields.update_gid and attr.st_gid != self.owner.gid
        ):
            raise pyfuse3.FUSEError(errno.EPERM)  # OneDrive has no owners to give an item
        ino = self._real(inode)
        local = self.engine.local
        if fields.update_size:
            await local.truncate(ino, attr.st_size)
        if fields.update_mode:
            await self._chmod(ino, stat.S_IMODE(attr.st_mode))
        if fields.update_mtime:
            await local.set_times(ino, mtime=attr.st_mtime_ns / 1e9)
        # update_atime alone: accepted, not kept (the mount is noatime).
        return self._entry(self._attrs(ino))

    async def _chmod(self, ino: int, mode: int) -> None:
        """Permission bits are kept on this machine only: OneDrive has none to send them to."""
        if self.engine.config.read_only:
            raise pyfuse3.FUSEError(errno.EROFS)
        await self.engine.store.write_inline(lambda m: m.set_attrs(ino, mode=mode))

    @guarded
    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        if stat.S_ISREG(mode):
            ino, handle = await self.engine.local.create(
                parent_inode, self._new_name(name), stat.S_IMODE(mode) & ~ctx.umask
            )
            await self.engine.local.release(handle.fh)
            return self._known(self._attrs(ino))
        raise self._unsupported("special files (FIFOs, sockets, devices)")

    @guarded
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        ino = await self.engine.local.mkdir(
            parent_inode, self._new_name(name), stat.S_IMODE(mode) & ~ctx.umask
        )
        return self._known(self._attrs(ino))

    @guarded
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self.engine.local.unlink(parent_inode, self._existing_name(name))

    @guarded
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self.engine.local.rmdir(parent_inode, self._existing_name(name))

    @guarded
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        if flags & ~pyfuse3.RENAME_NOREPLACE:
            raise pyfuse3.FUSEError(errno.EINVAL)  # RENAME_EXCHANGE, RENAME_WHITEOUT
        old, new = self._existing_name(name_old), self._new_name(name_new)
        moved = queries.lookup_ino(self._reader, parent_inode_old, old)
        occupant = queries.lookup_ino(self._reader, parent_inode_new, new)
        if occupant not in (None, moved) and self._child(parent_inode_new, new) is None:
            # Another item holds the name in another case: the kernel saw no target, so
            # this is a new name OneDrive cannot take (as create's EEXIST), not a replace.
            raise pyfuse3.FUSEError(errno.EEXIST)
        holder = await self.engine.local.rename(
            parent_inode_old,
            old,
            parent_inode_new,
            new,
            noreplace=bool(flags & pyfuse3.RENAME_NOREPLACE),
        )
        if moved is not None and holder != moved:
            # The kernel will show the new name as the moved inode; the engine kept the
            # replaced item there instead, with the moved one's bytes (an editor's save).
            self.kernel.alias(moved, holder, parent_inode_new, new)
            self.sink.drop_inode(holder, content=True)

    @guarded
    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise self._unsupported("symbolic links")

    @guarded
    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise self._unsupported("hard links")

    def _unsupported(self, kind: str) -> pyfuse3.FUSEError:
        if kind not in self._refused_kinds:
            self._refused_kinds.add(kind)
            log.info("refused: OneDrive cannot hold %s (EPERM)", kind)
        return pyfuse3.FUSEError(errno.EPERM)

    # -- files ------------------------------------------------------------------------------------

    @guarded
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        ino = self._real(inode)
        handle = await self.engine.local.open(
            ino,
            write=flags & os.O_ACCMODE != os.O_RDONLY,
            truncate=bool(flags & os.O_TRUNC),
        )
        return pyfuse3.FileInfo(fh=handle.fh, keep_cache=self.kernel.keep_cache(inode))

    @guarded
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        ino, handle = await self.engine.local.create(
            parent_inode, self._new_name(name), stat.S_IMODE(mode) & ~ctx.umask
        )
        return pyfuse3.FileInfo(fh=handle.fh), self._known(self._attrs(ino))

    @guarded
    async def read(self, fh: int, off: int, size: int) -> bytes:
        return await self.engine.local.read(fh, off, size)

    @guarded
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return await self.engine.local.write(fh, off, buf)

    @guarded
    async def flush(self, fh: int) -> None:
        await self.engine.local.flush(fh)

    @guarded
    async def fsync(self, fh: int, datasync: bool) -> None:
        await self.engine.local.fsync(fh, datasync=datasync)

    @guarded
    async def release(self, fh: int) -> None:
        await self.engine.local.release(fh)

    # -- folders ----------------------------------------------------------------------------------

    @guarded
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        if self._attrs(inode).kind != "folder":
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        # Until the first enumeration is complete a folder may be unlisted; the engine lists
        # it once (at once, without a request, when it need not). A failed listing shows
        # what the store knows.
        await self.engine.delta.list_children(inode)
        fh = next(self._listing_numbers)
        self._listings[fh] = _Listing(inode)
        return fh

    @guarded
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        """Entries after inode ``start_id``, in inode order (``next_id`` is the inode).

        The offset is a position in the store's order, not in a list, so entries added or
        removed while ``ls`` reads never make it skip or repeat another. Each page is read
        fresh, at the size the kernel's buffer took last time, so the attributes a
        readdirplus entry carries are never older than the request.
        """
        listing = self._listings.get(fh)
        if listing is None:
            raise pyfuse3.FUSEError(errno.EBADF)
        after = start_id
        while True:
            page = queries.entries(self._reader, listing.ino, after=after, limit=listing.fit + 1)
            for taken, entry in enumerate(page):
                attrs = self._current(entry.attrs)
                if not self._reply(token, entry.name.encode(), self._entry(attrs), attrs.ino):
                    listing.fit = max(taken, 1)
                    return
                self.kernel.looked_up(entry.attrs.ino)
            if len(page) <= listing.fit:
                return  # the folder's end
            after = page[-1].attrs.ino
            listing.fit = min(listing.fit * 2, _MAX_PAGE)

    @guarded
    async def releasedir(self, fh: int) -> None:
        self._listings.pop(fh, None)

    @guarded
    async def fsyncdir(self, fh: int, datasync: bool) -> None:
        return None  # a folder's changes are committed to the store before they are answered

    # -- the drive --------------------------------------------------------------------------------

    @guarded
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        quota = await self.engine.delta.quota()
        total = quota.total if quota is not None and quota.total else 0
        free = quota.remaining if quota is not None and quota.remaining is not None else 0
        found = pyfuse3.StatvfsData()
        found.f_bsize = found.f_frsize = _BLOCK
        found.f_blocks = total // _BLOCK
        found.f_bfree = found.f_bavail = min(free, total) // _BLOCK if total else 0
        found.f_files = found.f_ffree = found.f_favail = 0  # OneDrive counts no inodes
        found.f_namemax = MAX_LOCAL_NAME_BYTES
        return found

    # -- status attributes ------------------------------------------------------------------------

    def _status(self, ino: int) -> status.Status:
        found = status.read(self._reader, ino)
        if found is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return found

    @guarded
    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        if name not in status.NAMES:  # security.capability is asked on every write: no SQL
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        value = self._status(self._real(inode)).values.get(name)
        if value is None:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        return value

    @guarded
    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> list[bytes]:
        return self._status(self._real(inode)).names()

    @guarded
    async def setxattr(
        self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext
    ) -> None:
        if name not in status.NAMES:
            raise pyfuse3.FUSEError(errno.ENOTSUP)
        if name not in status.WRITABLE:
            raise pyfuse3.FUSEError(errno.EPERM)
        try:
            pinned = status.parse_pinned(value)
        except ValueError:
            raise pyfuse3.FUSEError(errno.EINVAL) from None
        await self.engine.local.set_pinned(self._real(inode), pinned)

    @guarded
    async def removexattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        if name not in status.NAMES:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        if name not in status.WRITABLE:
            raise pyfuse3.FUSEError(errno.EPERM)
        await self.engine.local.set_pinned(self._real(inode), False)
