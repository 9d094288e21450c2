"""The content cache: how many bytes the cache may hold, what leaves first, and pins.

Two limits, both in :class:`~.config.EngineConfig`: ``cache_limit_bytes`` (the bytes of
``content/`` and ``partial/``; ``None`` for no limit) and ``min_free_bytes`` (free space the
cache always leaves on its filesystem). Snapshots are not counted against the limit: they
exist only while an upload is in flight, and an upload is what turns unsent bytes (which can
never be evicted) into evictable ones, so a cache full of unsent data must still be able to
send it.

Eviction takes HYDRATED files, least recently used first (the access time of the cache file,
set by :meth:`ContentCache.touch` on every open, so the order survives a restart), and fires
the spec's ``evict`` on each, whose guards refuse a pinned item, one with a remote version kept
beside ours, and one a process holds open: ``open_handles`` is read from the open-files table
while the writer is held, in the transaction that evicts, so an ``open()`` cannot slip in
between. Dirty, conflicted, hydrating and erroring items are never candidates. Eviction runs
when a write or a download needs room (:meth:`ContentCache.make_room`, which raises
:class:`~.errors.CacheFull` when nothing can go) and every ``sweep_interval`` seconds.

The sweep also removes cache files no row accounts for (an item purged, a remote change that
dropped stale bytes, a crash between a commit and its file operation), pins the new children
of pinned folders, and asks the hydrator for pinned content that is not here. Every file
operation that must agree with a commit is made safe against a crash between the two: a file
that takes another item's bytes is staged (a hard link, ``content/<ino>.takes-<src>`` or
``.copies-<src>``) before the commit and moved into place after it; :meth:`ContentCache.recover`
finishes or drops a staged file by whether the commit happened, which the rows tell (the
source's row is gone, or the copy's row exists, exactly when it did).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from onemount.engine.columns import int_pairs, ints
from onemount.engine.errors import CacheFull
from onemount.engine.hydrator import BACKGROUND
from onemount.statemachine import InvalidTransition
from onemount.store import Fired, StateManager, UnknownItem
from onemount.store.events import Evict

if TYPE_CHECKING:
    from onemount.engine.engine import Engine

log = logging.getLogger(__name__)

#: Seconds between sweeps (orphans, pins, limits) when nothing asks for one sooner.
SWEEP_INTERVAL = 30.0
#: Eviction frees this fraction of the limit beyond what was asked, so that a steady stream
#: of writes does not pay an eviction for every block.
_HEADROOM = 0.05
# Bytes staged for a commit, named ``<ino><how><source>``. The commit happened exactly when the
# source's row is gone (_TAKES: a rename over a file) or the new row exists (_COPIES: a copy).
_TAKES = ".takes-"
_COPIES = ".copies-"

_CANDIDATES = (
    "SELECT ino, size FROM items WHERE state = 'HYDRATED' AND kind = 'file' AND virtual = 0"
    " AND pinned = 0 AND conflict_remote_etag IS NULL"
)
_CACHED = "SELECT ino FROM items WHERE cached_hash IS NOT NULL"
_UNPINNED_CHILDREN = (
    "SELECT c.ino FROM items c JOIN items p ON p.ino = c.parent_ino"
    " WHERE p.pinned = 1 AND p.kind = 'folder' AND c.pinned = 0 AND c.state <> 'DELETED_LOCAL'"
)
_SUBTREE = (
    "WITH RECURSIVE sub(ino) AS (SELECT ?1 UNION ALL"
    " SELECT i.ino FROM items i JOIN sub ON i.parent_ino = sub.ino) SELECT ino FROM sub"
)
_PINNED_MISSING = (
    "SELECT ino FROM items WHERE pinned = 1 AND kind = 'file' AND virtual = 0"
    " AND (state IN ('GHOST', 'HYDRATING') OR (state = 'ERROR' AND has_local_changes = 0))"
)


@dataclass(frozen=True)
class CacheUsage:
    """What ``onemount status`` shows about the cache."""

    used_bytes: int
    limit_bytes: int | None
    free_bytes: int
    min_free_bytes: int


class ContentCache:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._used = 0
        self._counted = 0  # every reserve() and release() summed: what a scan in flight misses
        self._woken = trio.Event()
        self.sweep_interval = SWEEP_INTERVAL
        self.sweeps = 0  # completed sweeps (tests wait for the next one by number)
        self._swept = trio.Event()
        self._sweeping = False

    # -- the task --------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.recover()
        task_status.started()
        while True:
            with trio.move_on_after(self.sweep_interval):
                await self._woken.wait()
            self._woken = trio.Event()
            await self.sweep()

    def wake(self) -> None:
        """Sweep soon (a pin changed, new items arrived under a pinned folder...)."""
        self._woken.set()

    async def swept(self) -> None:
        """Wait for the end of a sweep that started after this call (tests, ``pin --wait``)."""
        needed = self.sweeps + (2 if self._sweeping else 1)
        self.wake()
        while self.sweeps < needed:
            await self._swept.wait()

    async def recover(self) -> None:
        """At start-up: finish or drop staged moves, drop cached rows whose file is gone."""
        await self._engine.store.write(self._recover)
        await self._rescan()

    def _recover(self, m: StateManager) -> None:
        cache = self._engine.cache
        for entry in os.scandir(cache.root / "content"):
            ino, staged = _parse(entry.name)
            if ino is None or staged is None:
                continue
            how, source = staged
            committed = m.peek(source) is None if how == _TAKES else m.peek(ino) is not None
            if committed:  # the staged bytes are the item's now
                self._settle(ino, source, how)
            else:
                os.unlink(entry.path)
        for ino in ints(
            m.conn.execute(
                "SELECT ino FROM items WHERE state = 'HYDRATED' AND kind = 'file' AND virtual = 0"
            )
        ):
            if not cache.content(ino).exists():
                log.warning("inode %d: its cached bytes are gone; it is a ghost again", ino)
                _try_fire(m, ino, Evict(open_handles=False))
        for ino, size in int_pairs(
            m.conn.execute(
                "SELECT ino, size FROM items WHERE state IN ('DIRTY_LOCAL', 'CONFLICT')"
                " AND kind = 'file'"
            )
        ):
            try:
                actual = os.stat(cache.content(ino)).st_size
            except FileNotFoundError:
                continue
            if actual != size:  # a write noted in memory only when the process died
                m.note_write(ino, size=actual, mtime=m.now())

    # -- room ------------------------------------------------------------------------------------

    def usage(self) -> CacheUsage:
        config = self._engine.config
        return CacheUsage(self._used, config.cache_limit_bytes, self._free(), config.min_free_bytes)

    def touch(self, ino: int) -> None:
        """``ino`` was opened: it is the most recently used (the cache file's access time)."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self._engine.cache.content(ino))

    def reserve(self, nbytes: int) -> bool:
        """Count ``nbytes`` more if they fit now (the write path's check without an await)."""
        if nbytes <= 0:
            return True
        if not self._fits(nbytes):
            return False
        self._used += nbytes
        self._counted += nbytes
        return True

    def released(self, nbytes: int) -> None:
        """``nbytes`` of cache files went (a truncate, a delete): count them no more."""
        self._used = max(0, self._used - nbytes)
        self._counted -= nbytes

    async def make_room(self, nbytes: int) -> None:
        """Make ``nbytes`` fit (evicting if need be) and count them, or raise CacheFull."""
        if self.reserve(nbytes):
            return
        await self._rescan()
        if self.reserve(nbytes):
            return
        await self._evict(nbytes, headroom=True)
        if self.reserve(nbytes):
            return
        usage = self.usage()
        limit = "no limit" if usage.limit_bytes is None else f"limit {usage.limit_bytes}"
        raise CacheFull(
            f"the cache cannot take {nbytes} more bytes ({usage.used_bytes} used, {limit},"
            f" {usage.free_bytes} free on disk, {usage.min_free_bytes} kept free) and nothing"
            " in it can be evicted (pinned, unsent, conflicted or open)"
        )

    def _fits(self, nbytes: int) -> bool:
        config = self._engine.config
        limit = config.cache_limit_bytes
        if limit is not None and self._used + nbytes > limit:
            return False
        return self._free() - nbytes >= config.min_free_bytes

    def _free(self) -> int:
        found = os.statvfs(self._engine.cache.root)
        return found.f_bavail * found.f_frsize

    async def _rescan(self) -> None:
        """Count the cache's bytes again: the files, and what running downloads reserved.

        A download reserves its whole size before its first byte, and a partial file is only
        as big as what has arrived: counted by size it would let the rest of the cache be
        given away twice. The files are listed in a thread and combined afterwards with the
        downloads running then (one that ended meanwhile is counted by the file the listing
        saw). A reservation made while the listing ran may or may not show in it (its file
        may appear meanwhile), so a listing that overlapped one is made again.
        """
        for _ in range(3):  # a listing no reservation overlapped is exact: try for one
            mark = self._counted
            content, partial = await trio.to_thread.run_sync(self._list)
            if self._counted == mark:
                break
        total = sum(content.values())
        for ino, expected in self._engine.hydrator.expected_sizes().items():
            if str(ino) not in content:
                total += max(expected, partial.pop(str(ino), 0))
        self._used = max(0, total + sum(partial.values()) + self._counted - mark)

    def _list(self) -> tuple[dict[str, int], dict[str, int]]:
        """Sizes of the files in ``content/`` and ``partial/``, by name (in a thread)."""
        found: tuple[dict[str, int], dict[str, int]] = ({}, {})
        for folder, sizes in zip(("content", "partial"), found, strict=True):
            for entry in os.scandir(self._engine.cache.root / folder):
                with contextlib.suppress(FileNotFoundError):
                    sizes[entry.name] = entry.stat().st_size
        return found

    def _overflow(self) -> int:
        """Bytes over the limit or under the free-space floor (0 when within both)."""
        config = self._engine.config
        over = 0
        if config.cache_limit_bytes is not None:
            over = self._used - config.cache_limit_bytes
        return max(over, config.min_free_bytes - self._free(), 0)

    # -- eviction --------------------------------------------------------------------------------

    async def _evict(self, nbytes: int, *, headroom: bool = False) -> int:
        """Evict least recently used files until ``nbytes`` (plus headroom) are free."""
        limit = self._engine.config.cache_limit_bytes
        goal = nbytes + int(_HEADROOM * limit) if limit and headroom else nbytes
        rows = int_pairs(self._engine.store.reader.execute(_CANDIDATES))
        candidates = await trio.to_thread.run_sync(self._by_last_access, rows)
        if not candidates:
            return 0
        freed = await self._engine.store.write(lambda m: self._evict_some(m, candidates, goal))
        self.released(freed)
        if freed:
            log.info("evicted %d bytes of cached content to make room", freed)
        return freed

    def _by_last_access(self, rows: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """(ino, size) of eviction candidates, least recently opened first (in a thread)."""
        found: list[tuple[float, int, int]] = []
        cache = self._engine.cache
        for ino, size in rows:
            try:
                atime = os.stat(cache.content(ino)).st_atime
            except FileNotFoundError:
                atime = 0.0
            found.append((atime, int(ino), int(size)))
        found.sort()
        return [(ino, size) for _, ino, size in found]

    def _evict_some(self, m: StateManager, candidates: list[tuple[int, int]], goal: int) -> int:
        files = self._engine.files
        freed = 0
        for ino, size in candidates:
            if freed >= goal:
                break
            fired = _try_fire(m, ino, Evict(open_handles=files.is_open(ino)))
            if fired is not None and fired.target == "GHOST":
                self._engine.cache.content(ino).unlink(missing_ok=True)
                freed += size
        return freed

    # -- files that must follow a commit ---------------------------------------------------------

    def stage(self, ino: int, source: int) -> None:
        """Before the commit in which ``source``'s row goes: link its bytes as ``ino``'s next."""
        self._link(ino, source, _TAKES)

    def unstage(self, ino: int, source: int) -> None:
        """After that commit: ``ino`` takes the staged bytes; ``source``'s name goes."""
        self._settle(ino, source, _TAKES)

    def stage_copy(self, copy: int, source: int) -> None:
        """Before the commit that creates ``copy``: link ``source``'s bytes as its own."""
        self._link(copy, source, _COPIES)

    def unstage_copy(self, copy: int, source: int) -> None:
        """After that commit: ``copy`` holds the bytes; ``source`` (now a ghost) lets go."""
        self._settle(copy, source, _COPIES)

    def _staged(self, ino: int, source: int, how: str) -> Path:
        return self._engine.cache.root / "content" / f"{ino}{how}{source}"

    def _link(self, ino: int, source: int, how: str) -> None:
        staged = self._staged(ino, source, how)
        staged.unlink(missing_ok=True)
        os.link(self._engine.cache.content(source), staged)

    def _settle(self, ino: int, source: int, how: str) -> None:
        cache = self._engine.cache
        os.replace(self._staged(ino, source, how), cache.content(ino))
        cache.content(source).unlink(missing_ok=True)

    def drop(self, ino: int) -> None:
        """Remove ``ino``'s cache file if no row needs it and no process has it open.

        Call it on the trio thread right after the commit that dropped the content: a
        process that has the file open keeps it (the sweep takes it after the release).
        """
        if self._engine.files.is_open(ino):
            return
        found = self._engine.store.reader.execute(
            "SELECT cached_hash FROM items WHERE ino = ?", (ino,)
        ).fetchone()
        if found is not None and found[0] is not None:
            return
        path = self._engine.cache.content(ino)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        self.released(size)

    def remote_applied(self, fired: Iterable[Fired]) -> None:
        """What a delta page did to content: call it on the trio thread after each ingest.

        Stale bytes of an item that became a ghost (or went) are removed, its download is
        stopped, and a pinned item's new version is fetched. (A download of a version that
        changed meanwhile is caught by its hash when it ends.) A conflict wakes the outbox,
        which applies the conflict policy. The sweeps would find each of these later; this
        makes them immediate.
        """
        hydrator = self._engine.hydrator
        arrived = conflicted = False
        for f in fired:
            if not f.written:
                continue
            arrived = arrived or f.source == "ABSENT"
            if f.target == "HYDRATING" and f.source != "HYDRATING":
                hydrator.request(f.ino, priority=BACKGROUND)  # a pinned file's new version
            elif f.target in ("GHOST", "REMOVED") and f.source not in (f.target, "ABSENT"):
                # (A new row has no bytes nor download: a first enumeration skips this cost.)
                hydrator.cancel(f.ino)
                self.drop(f.ino)
            elif f.target == "CONFLICT":
                conflicted = True
        if arrived:
            self.wake()  # new children of a pinned folder are pinned by the sweep
        if conflicted:
            self._engine.outbox.wake()  # the conflict policy is the outbox's to apply

    # -- pins ------------------------------------------------------------------------------------

    async def pin(self, ino: int, pinned: bool) -> None:
        """Pin or unpin ``ino`` and, for a folder, everything below it; hydrate what is pinned."""
        await self._engine.store.write(lambda m: _pin_subtree(m, ino, pinned))
        self.wake()

    # -- the sweep -------------------------------------------------------------------------------

    async def sweep(self) -> None:
        """Orphans out, pins in, limits kept. Each step reads the store fresh."""
        self._sweeping = True
        try:
            await self._sweep()
        finally:
            self._sweeping = False
        self.sweeps += 1
        self._swept.set()
        self._swept = trio.Event()

    async def _sweep(self) -> None:
        engine = self._engine
        await engine.store.write(_pin_new_children)
        for ino in ints(engine.store.reader.execute(_PINNED_MISSING)):
            engine.hydrator.request(ino, priority=BACKGROUND)
        engine.hydrator.adopt()
        reader = engine.store.reader
        if reader.execute("SELECT 1 FROM items WHERE state = 'CONFLICT' LIMIT 1").fetchone():
            engine.outbox.wake()  # a conflict nobody was told of: the policy applies
        cached = set(ints(reader.execute(_CACHED)))
        intents = set(ints(reader.execute("SELECT id FROM intents")))
        intents.update(engine.outbox.sending())
        orphans = await trio.to_thread.run_sync(self._orphan_candidates, cached, intents)
        if orphans:
            sending = engine.outbox.sending()
            await engine.store.write(lambda m: self._remove_orphans(m, orphans, sending))
        await self._rescan()
        overflow = self._overflow()
        if overflow:
            await self._evict(overflow)

    def _orphan_candidates(self, cached: set[int], intents: set[int]) -> list[Path]:
        """Cache files no row with content, and snapshots no intent, accounts for (a thread)."""
        root = self._engine.cache.root
        found: list[Path] = []
        for entry in os.scandir(root / "content"):
            ino, staged = _parse(entry.name)
            if ino is not None and staged is None and ino not in cached:
                found.append(Path(entry.path))
        for entry in os.scandir(root / "snapshots"):
            intent = _parse(entry.name.removesuffix(".tmp"))[0]
            if intent is not None and intent not in intents:
                found.append(Path(entry.path))
        return found

    def _remove_orphans(self, m: StateManager, paths: list[Path], sending: set[int]) -> None:
        """Under the writer: remove each candidate that is still an orphan."""
        files = self._engine.files
        for path in paths:
            number = _parse(path.name.removesuffix(".tmp"))[0]
            if number is None:
                continue
            if path.parent.name == "content":
                row = m.peek(number)
                if files.is_open(number) or (row is not None and row["cached_hash"]):
                    continue
            elif (
                number in sending
                or m.conn.execute("SELECT 1 FROM intents WHERE id = ?", (number,)).fetchone()
            ):
                continue
            path.unlink(missing_ok=True)


def _parse(name: str) -> tuple[int | None, tuple[str, int] | None]:
    """``"12"`` -> (12, None); ``"12.takes-7"`` -> (12, (".takes-", 7)); else (None, None)."""
    if name.isdigit():
        return int(name), None
    for how in (_TAKES, _COPIES):
        head, sep, tail = name.partition(how)
        if sep and head.isdigit() and tail.isdigit():
            return int(head), (how, int(tail))
    return None, None


def _try_fire(m: StateManager, ino: int, payload: Evict) -> Fired | None:
    """Fire an eviction; a refusal (pinned, open, kept version, changed meanwhile) is a no."""
    try:
        return m.fire(ino, payload)
    except (InvalidTransition, UnknownItem):
        return None


def _pin_subtree(m: StateManager, ino: int, pinned: bool) -> None:
    for each in ints(m.conn.execute(_SUBTREE, (ino,))):
        m.set_pinned(each, pinned)


def _pin_new_children(m: StateManager) -> None:
    """A pinned folder's children are pinned, down the tree, until none is left unpinned."""
    while found := ints(m.conn.execute(_UNPINNED_CHILDREN)):
        for ino in found:
            m.set_pinned(ino, True)
