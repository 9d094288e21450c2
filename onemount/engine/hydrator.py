"""Downloads: a queue with N workers, one download per item, readers served as bytes land.

:meth:`Hydrator.request` puts an item in the queue (once: a second request for an item queued
or downloading joins it, and a request with ``priority`` moves it ahead of background work
such as pins). ``download_workers`` workers take the most urgent item first. A worker fires
``hydrate_requested`` (GHOST -> HYDRATING), makes room in the cache, and streams the bytes into
``partial/<ino>`` through the Graph client's resumable transfer (a dropped connection resumes
with ``Range``; bytes of two versions are never stitched). Every batch written is announced, so
:meth:`Hydrator.wait_for` returns to a reader as soon as *its* range is on disk: a sequential
reader is never slower than the download, and the first byte of a large file is readable long
before the last has arrived.

When the body is complete its QuickXorHash is computed (it was computed while writing), the
file is fsynced, and then, holding the writer on the trio thread with no ``await`` in between:
if the row is still HYDRATING and the hash is the one the row records, ``partial/<ino>`` is
renamed to ``content/<ino>`` and ``hydrate_succeeded(cached_hash=...)`` fired. A hash that is
not the row's means the file changed on the server meanwhile: the event is fired anyway and the
spec refuses it (``hydration_current``: the item stays HYDRATING), the delta loop is woken to
learn the new version, and the download starts again. A row that left HYDRATING meanwhile (the
user overwrote or deleted the file) gets nothing: the partial file is dropped. A partial file is
never visible as complete.

Failures: offline (no answer at all) is ``hydrate_cancelled`` and the readers get
:class:`~.errors.ContentOffline` (ENETDOWN) at once; a throttle or a server error that outlasted
the client's own retries is retried here with backoff; anything else is ``hydrate_failed``
(ERROR, with its reason) and readers get :class:`~.errors.HydrationFailed` (EIO). An item in
ERROR is tried again when asked, but not before its backoff has run out. Unmount cancels the
workers; a download cut short leaves its row HYDRATING, which :meth:`Hydrator.recover` turns
back into GHOST at the next start (and removes the partial files).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from onemount import mutations
from onemount.engine.backoff import Backoff
from onemount.engine.columns import ints
from onemount.engine.errors import (
    CacheFull,
    ContentOffline,
    EngineError,
    HydrationFailed,
    HydrationTimedOut,
)
from onemount.engine.sink import report
from onemount.graph import (
    AuthRequired,
    GraphError,
    NotFound,
    Offline,
    ServerError,
    Throttled,
)
from onemount.graph.download import _Sink, _Transfer
from onemount.graph.paths import item_path
from onemount.statemachine import InvalidTransition
from onemount.store import Fired, StateManager, UnknownItem
from onemount.store import queries as q
from onemount.store.events import (
    Failure,
    HydrateCancelled,
    HydrateFailed,
    HydrateRequested,
    HydrateSucceeded,
    Payload,
)

if TYPE_CHECKING:
    from onemount.engine.engine import Engine

log = logging.getLogger(__name__)

#: States whose bytes are complete in ``content/<ino>`` (a HYDRATED folder has none to read).
CACHED = frozenset({"HYDRATED", "DIRTY_LOCAL", "CONFLICT"})
#: How often one download is tried again after a transient failure or a stale hash.
_ATTEMPTS = 4
_HYDRATING = "SELECT ino FROM items WHERE state = 'HYDRATING'"
_RETRY = Backoff(base=0.5, cap=8.0)
#: After a download failed for good, asking again before this backoff is over fails at once.
_FAILED = Backoff(base=5.0, cap=600.0)
#: Priorities (a lower number goes first): a process waits for the bytes; nobody does (a pin,
#: a pinned file's new version: the delta loop's ``BACKGROUND``).
WAITING = 0
BACKGROUND = 10


class _Abandoned(Exception):
    """The row left HYDRATING while the bytes were arriving: nobody wants them any more."""


class _Stale(Exception):
    """The bytes are not the version the row records (the server's file changed)."""


class _Partial(_Sink):
    """The partial file, announcing every batch written (from the writer's worker thread)."""

    def __init__(self, path: Path, announce: Callable[[int], None]) -> None:
        path.unlink(missing_ok=True)
        super().__init__(path)
        self._announce = announce
        self._token = trio.lowlevel.current_trio_token()
        self.reader = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def write(self, chunks: list[bytes]) -> None:
        super().write(chunks)
        self._token.run_sync_soon(self._announce, self.size)

    def restart(self) -> None:
        super().restart()
        self._announce(0)  # on the trio thread: the transfer calls it while aligning

    def close_reader(self) -> None:
        if self.reader >= 0:
            os.close(self.reader)
            self.reader = -1


@dataclass(eq=False)
class _Download:
    """One item's download: its waiters read ``have`` and wait on ``changed``."""

    ino: int
    priority: int
    expected: int = 0  # the size the row announces (the real size is the body's)
    partial: _Partial | None = None
    have: int = 0  # bytes of the current attempt written to ``partial`` from byte 0
    error: EngineError | None = None
    done: bool = False
    changed: trio.Event = field(default_factory=trio.Event)
    ended: trio.Event = field(default_factory=trio.Event)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def announce(self, have: int) -> None:
        self.have = have
        self.changed.set()
        self.changed = trio.Event()


class Hydrator:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._downloads: dict[int, _Download] = {}
        self._queue: list[tuple[int, int, int]] = []  # (priority, order, ino)
        self._order = itertools.count()
        self._lot = trio.lowlevel.ParkingLot()
        self._failures: dict[int, tuple[int, float]] = {}  # ino -> (failures, retry at)
        self._idle = trio.Event()
        self.draw: Callable[[], float] = random.random
        #: The wait after a download failed for good before it may be tried again.
        self.failed_backoff = _FAILED

    # -- what the engine and LocalOps call -------------------------------------------------------

    async def recover(self) -> None:
        """At start-up: no download survives a restart; their rows go back to GHOST."""
        for entry in os.scandir(self._engine.cache.root / "partial"):
            os.unlink(entry.path)

        def cancel_all(m: StateManager) -> None:
            for ino in ints(m.conn.execute(_HYDRATING)):
                m.fire(ino, HydrateCancelled(), detail="start-up")

        await self._engine.store.write(cancel_all)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(max(1, self._engine.config.download_workers)):
                nursery.start_soon(self._worker)
            task_status.started()

    def request(self, ino: int, *, priority: int) -> None:
        """Download ``ino`` if it is not here; a second request joins the first (and moves it
        ahead when ``priority`` is more urgent: a lower number, :data:`WAITING` first)."""
        self._enqueue(ino, priority)

    def start(self, ino: int) -> None:
        """:meth:`request` with priority, raising at once what the download would fail with.

        Offline, a GHOST file cannot be had: opening it fails now (ContentOffline, ENETDOWN,
        with one log line), never after a wait and never as an empty file. An item whose last
        download failed for good fails until its backoff is over (HydrationFailed, EIO).
        """
        download = self._enqueue(ino, WAITING)
        if mutations.on("offline_ghost_empty") and isinstance(download.error, ContentOffline):
            return
        if download.error is not None:
            raise download.error

    def cancel(self, ino: int) -> None:
        """``ino`` was overwritten, deleted or changed: end the attempt and look at the row.

        The worker then finds the row in a cached state (nothing to do), gone (the download
        fails), or still HYDRATING (it starts again, on the version the row now records).
        """
        found = self._downloads.get(ino)
        if found is not None:
            found.scope.cancel()

    def adopt(self) -> None:
        """Queue every HYDRATING row no worker has (after a remote change made one)."""
        for ino in ints(self._engine.store.reader.execute(_HYDRATING)):
            if ino not in self._downloads:
                self._enqueue(ino, BACKGROUND)

    def downloading(self, ino: int) -> bool:
        return ino in self._downloads

    def expected_sizes(self) -> dict[int, int]:
        """What each download in progress will write (the cache counts it in advance)."""
        return {ino: d.expected for ino, d in self._downloads.items() if d.expected}

    def retry_at(self, ino: int) -> float | None:
        """The trio time before which a failed download of ``ino`` is not tried again."""
        found = self._failures.get(ino)
        return None if found is None else found[1]

    async def idle(self) -> None:
        """Return once no download is queued or running (tests, ``onemount pin --wait``)."""
        while self._downloads:
            await self._idle.wait()

    async def wait_for(self, ino: int, offset: int, size: int, *, timeout: float) -> None:
        """Return once ``[offset, offset + size)`` of ``ino`` can be read, or raise why not.

        Readable means: complete in ``content/<ino>`` (a cached state), or written to the
        partial file of the download in progress (read it with :meth:`pread` right after this
        returns, before any ``await``). A range that reaches the end of the file waits for the
        whole download to be verified against the server's hash and kept (HYDRATED): a reader
        never sees the end of bytes a stale or damaged download brought, and once ``cat`` has
        read a file, its ``user.onemount.state`` says HYDRATED (not HYDRATING for the
        milliseconds of the fsync and the commit). Raises ContentOffline, HydrationFailed,
        CacheFull or HydrationTimedOut (after ``timeout`` seconds).
        """
        await self._wait(ino, offset + size, timeout)

    async def wait_cached(self, ino: int, *, timeout: float) -> None:
        """Return once all of ``ino``'s bytes are in ``content/<ino>`` (a write needs them)."""
        await self._wait(ino, None, timeout)

    async def _wait(self, ino: int, end: int | None, timeout: float) -> None:
        deadline = trio.current_time() + timeout
        download: _Download | None = None
        while True:
            row = q.get(self._engine.store.reader, ino)
            if row is None or row["state"] == "DELETED_LOCAL":
                raise HydrationFailed(f"inode {ino} is gone")
            if _complete(row):
                return
            if download is None or download.done:
                if download is not None and download.error is not None:
                    raise download.error
                download = self._enqueue(ino, WAITING)
            if download.error is not None:
                raise download.error
            partial = download.partial
            if (
                end is not None
                and end < download.expected
                and partial is not None
                and download.have >= end
            ):
                return  # the end of the file waits for the commit (see wait_for)
            with trio.move_on_at(deadline):
                await download.changed.wait()
                continue
            raise HydrationTimedOut(
                f"inode {ino}: {download.have} of {download.expected} bytes after {timeout:g} s"
            )

    def pread(self, ino: int, offset: int, size: int) -> bytes | None:
        """Bytes of the download in progress (``None`` when it is not in progress any more)."""
        found = self._downloads.get(ino)
        if found is None or found.partial is None or found.partial.reader < 0:
            return None
        size = max(0, min(size, found.have - offset))
        return os.pread(found.partial.reader, size, offset)

    # -- the queue -------------------------------------------------------------------------------

    def _enqueue(self, ino: int, priority: int) -> _Download:
        found = self._downloads.get(ino)
        if found is not None and not found.done:
            if priority < found.priority:
                found.priority = priority
                if found.partial is None:  # still queued: move it ahead
                    heapq.heappush(self._queue, (priority, next(self._order), ino))
                    self._lot.unpark()
            return found
        download = _Download(ino, priority)
        retry_at = self._failures.get(ino, (0, -math.inf))[1]
        if trio.current_time() < retry_at:
            row = q.get(self._engine.store.reader, ino)
            reason = (row or {}).get("last_error") or "the last download failed"
            download.error = HydrationFailed(f"inode {ino}: {reason} (retried later)")
            download.done = True
            return download
        if not reachable(self._engine):
            download.error = self._offline(ino)
            download.done = True
            return download
        self._downloads[ino] = download
        heapq.heappush(self._queue, (priority, next(self._order), ino))
        self._lot.unpark()
        return download

    def _offline(self, ino: int) -> ContentOffline:
        path = q.path_of(self._engine.store.reader, ino) or f"inode {ino}"
        log.warning("%s is not in the cache and the drive is offline", path)
        return ContentOffline(f"{path} is not in the cache and the drive is offline")

    async def _worker(self) -> None:
        while True:
            while not self._queue:
                await self._lot.park()
            _, _, ino = heapq.heappop(self._queue)
            download = self._downloads.get(ino)
            if download is None or download.done or download.partial is not None:
                continue  # a stale entry of an item moved ahead, or already taken
            await self._serve(download)

    async def _serve(self, download: _Download) -> None:
        try:
            await self._hydrate(download)
            self._failures.pop(download.ino, None)
        except EngineError as exc:
            download.error = exc
        except Exception as exc:  # a bug must cost this download, not the mount
            log.exception("inode %d: the download failed unexpectedly", download.ino)
            download.error = HydrationFailed(f"inode {download.ino}: {exc}")
        finally:
            download.done = True
            if self._downloads.get(download.ino) is download:
                del self._downloads[download.ino]
            download.announce(download.have)
            download.ended.set()
            if not self._downloads:
                self._idle.set()
                self._idle = trio.Event()

    # -- one download ----------------------------------------------------------------------------

    async def _hydrate(self, download: _Download) -> None:
        ino = download.ino
        attempts = 0
        delay = 0.0
        while True:
            scope = download.scope
            with scope:
                if delay:
                    await trio.sleep(delay)
                row = await self._begin(download)
                if row is None:
                    return
                try:
                    await self._fetch(download, row)
                    return
                except _Abandoned:
                    return
                except _Stale:
                    attempts += 1
                    self._engine.delta.wake()
                    if attempts >= _ATTEMPTS:
                        await self._fail(ino, "the bytes never matched the server's hash")
                except (Throttled, ServerError) as exc:
                    attempts += 1
                    if attempts >= _ATTEMPTS:
                        await self._fail(ino, f"the server kept failing: {exc}", temporary=True)
                except (Offline, AuthRequired) as exc:
                    await self._fire(ino, HydrateCancelled())
                    raise self._offline(ino) from exc
                except NotFound as exc:
                    self._engine.delta.wake()
                    await self._fail(ino, "the file is no longer on the server", cause=exc)
                except GraphError as exc:
                    await self._fail(ino, f"the server refused the download: {exc}", cause=exc)
                except OSError as exc:
                    await self._fire(ino, HydrateCancelled())
                    raise HydrationFailed(f"inode {ino}: the cache refused it: {exc}") from exc
                finally:
                    _drop_partial(download)
            # cancel() ended this attempt: look at the row again at once
            download.scope = trio.CancelScope()
            delay = 0.0 if scope.cancelled_caught else _RETRY.delay(max(1, attempts), self.draw())

    async def _begin(self, download: _Download) -> dict[str, object] | None:
        """The row, HYDRATING now; None when there is nothing (left) to download."""
        ino = download.ino
        row = q.get(self._engine.store.reader, ino)
        if row is None or row["kind"] != "file" or row["state"] == "DELETED_LOCAL":
            raise HydrationFailed(f"inode {ino} is not a file the drive has")
        state = row["state"]
        if _complete(row):
            return None
        if not reachable(self._engine):
            if state == "HYDRATING":
                await self._fire(ino, HydrateCancelled())
            raise self._offline(ino)
        if state in ("GHOST", "ERROR"):
            await self._room(download, int(row["size"]))
            download.expected = int(row["size"])  # reserved: a rescan counts it from here on
            fired = await self._fire(ino, HydrateRequested())
            if fired is None:
                return await self._begin(download)  # the row moved on meanwhile: look again
        download.expected = int(row["size"])
        return row

    async def _room(self, download: _Download, size: int) -> None:
        """Room for ``size`` bytes; while other downloads are running, wait for them first.

        A download in progress is not evictable, but it soon will be: a cache full of
        downloads waits for one to end before it says ENOSPC.
        """
        while True:
            try:
                await self._engine.content.make_room(size)
                return
            except CacheFull as exc:
                others = [d for d in self._downloads.values() if d is not download and d.expected]
                if not others:
                    log.warning("inode %d cannot be downloaded: %s", download.ino, exc)
                    raise
            await others[0].ended.wait()

    async def _fetch(self, download: _Download, row: dict[str, object]) -> None:
        engine = self._engine
        client = engine.client
        assert client is not None  # _begin checked that the engine is online
        ino = download.ino
        partial = _Partial(engine.cache.partial(ino), download.announce)
        download.partial = partial
        download.announce(0)
        url = f"{item_path(client.config.drive, str(row['remote_id']))}/content"
        await _Transfer(client.core, url, partial, client.config.download_chunk).run()
        actual = partial.hasher.b64digest()
        await trio.to_thread.run_sync(os.fsync, partial.fd)
        fired = await self._commit(download, actual)
        report(engine.sink, [fired])

    async def _commit(self, download: _Download, actual: str) -> Fired:
        """Rename and fire under the writer, on the trio thread: nothing can interleave."""
        engine = self._engine
        ino = download.ino
        partial = download.partial
        assert partial is not None
        async with engine.store.locked() as m:
            row = m.peek(ino)
            if row is None or row["state"] != "HYDRATING":
                raise _Abandoned
            stale = row["remote_hash"] is not None and row["remote_hash"] != actual
            if stale and not mutations.on("stale_hydration_accepted"):
                m.fire(ino, HydrateSucceeded(cached_hash=actual))  # refused: stays HYDRATING
                raise _Stale
            os.replace(partial.path, engine.cache.content(ino))
            download.expected = 0  # a content file now: a rescan counts it as such
            try:
                fired = m.fire(ino, HydrateSucceeded(cached_hash=actual))
            except BaseException:
                engine.cache.content(ino).unlink(missing_ok=True)
                raise
            # Complete under its own name now: readers of the download read content/<ino>.
            os.close(partial.fd)
            partial.close_reader()
            download.partial = None
            return fired

    async def _fire(self, ino: int, payload: Payload) -> Fired | None:
        """Fire on the item; a refusal (the row moved on) is None, not an error."""
        try:
            fired = await self._engine.store.write_inline(lambda m: m.fire(ino, payload))
        except (InvalidTransition, UnknownItem):
            return None
        report(self._engine.sink, [fired])
        return fired

    async def _fail(
        self, ino: int, reason: str, *, temporary: bool = False, cause: BaseException | None = None
    ) -> None:
        failures = self._failures.get(ino, (0, 0.0))[0] + 1
        retry_at = trio.current_time() + self.failed_backoff.delay(failures, self.draw())
        self._failures[ino] = (failures, retry_at)
        path = q.path_of(self._engine.store.reader, ino) or f"inode {ino}"
        log.error("%s: download failed: %s", path, reason)
        failure = Failure(error=reason, error_kind="download", temporary=temporary)
        await self._fire(ino, HydrateFailed(failure=failure))
        raise HydrationFailed(f"{path}: {reason}") from cause


def reachable(engine: Engine) -> bool:
    """Requests can be sent: online, or throttled (they wait at the client's gate)."""
    return engine.client is not None and engine.connectivity.state in ("ONLINE", "THROTTLED")


def _complete(row: dict[str, object]) -> bool:
    """The row's bytes are all in ``content/<ino>`` (ERROR keeps local bytes it has)."""
    return row["state"] in CACHED or (row["state"] == "ERROR" and bool(row["has_local_changes"]))


def _drop_partial(download: _Download) -> None:
    """Discard an attempt's partial file (a committed one was detached already)."""
    partial, download.partial = download.partial, None
    if partial is not None:
        partial.close_reader()
        partial.discard()
