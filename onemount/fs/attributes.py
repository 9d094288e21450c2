"""What ``stat`` shows for an item: the store's eight columns turned into kernel attributes.

OneDrive keeps no owner, group or permission bits, so the mount shows every item as owned by
the user who mounted it, with the mode the user last set through the mount (kept locally,
never sent) or 0644/0755. ``st_blocks`` counts the item's size in 512-byte units whether or
not its bytes are in the cache, so ``du`` adds up what the drive holds, as it would on the
disk the files came from. Folders have ``st_nlink`` 1, the convention for "subfolders not
counted" that ``find`` honours (it skips its leaf optimisation), and size 0.

Times: ``mtime`` is the file's modification time (the server's ``fileSystemInfo``, or the last
local write or ``utimensat``); ``ctime`` is when the row last changed (a write, a rename, a
chmod); ``atime`` is not kept (the mount behaves as ``noatime``) and shows ``mtime``. An item
deleted while a process still holds it open has ``st_nlink`` 0, as on any local file system.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

import pyfuse3

from onemount.store.queries import Attrs

#: A folder's permissions, a file's, when the user has set none.
FOLDER_MODE = 0o755
FILE_MODE = 0o644


@dataclass(frozen=True)
class Timeouts:
    """How long the kernel may trust an answer before asking again (seconds).

    Long is safe: every change made through the mount passes through the kernel, and every
    change the engine applies from the server is pushed into the kernel's caches through the
    invalidation sink (:mod:`onemount.fs.kernel`). ``negative`` is how long "no such name"
    is trusted; the sink invalidates those entries too when an item arrives.
    """

    entry: float = 300.0
    attr: float = 300.0
    negative: float = 300.0


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int

    @classmethod
    def of_process(cls) -> Owner:
        return cls(os.getuid(), os.getgid())


def permissions(attrs: Attrs) -> int:
    """The permission bits shown for ``attrs`` (the stored ones, or the defaults)."""
    if attrs.mode is not None:
        return stat.S_IMODE(attrs.mode)
    return FOLDER_MODE if attrs.kind == "folder" else FILE_MODE


def nanoseconds(seconds: float) -> int:
    """A stored time (float seconds) as the kernel's integer nanoseconds, to the microsecond.

    The store keeps times as SQLite REALs, exact to about a quarter of a microsecond today;
    rounding to the microsecond makes the value shown stable across a round trip.
    """
    return round(seconds * 1_000_000) * 1000


def entry_attributes(attrs: Attrs, owner: Owner, timeouts: Timeouts) -> pyfuse3.EntryAttributes:
    """The kernel's view of ``attrs``."""
    entry = pyfuse3.EntryAttributes()
    entry.st_ino = attrs.ino
    entry.generation = 0  # AUTOINCREMENT: an inode number is never handed out twice
    entry.entry_timeout = timeouts.entry
    entry.attr_timeout = timeouts.attr
    folder = attrs.kind == "folder"
    entry.st_mode = (stat.S_IFDIR if folder else stat.S_IFREG) | permissions(attrs)
    entry.st_nlink = 0 if attrs.state == "DELETED_LOCAL" else 1
    entry.st_uid = owner.uid
    entry.st_gid = owner.gid
    entry.st_size = 0 if folder else attrs.size
    entry.st_blksize = 4096
    entry.st_blocks = 0 if folder else -(-attrs.size // 512)
    modified = nanoseconds(attrs.mtime if attrs.mtime is not None else attrs.updated)
    entry.st_mtime_ns = modified
    entry.st_atime_ns = modified
    entry.st_ctime_ns = nanoseconds(attrs.updated)
    entry.st_birthtime_ns = nanoseconds(attrs.created)
    return entry


def negative_entry(timeouts: Timeouts) -> pyfuse3.EntryAttributes:
    """The answer "no such name", which the kernel caches for ``timeouts.negative``."""
    entry = pyfuse3.EntryAttributes()
    entry.st_ino = 0
    entry.entry_timeout = timeouts.negative
    return entry
