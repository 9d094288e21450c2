"""Folders opened before the first enumeration reached them: listed through ``/children``.

A first run serves as soon as the root is known (:mod:`.bootstrap`), long before delta has
walked a large drive, and delta's order is no order at all: a folder's children may come on
the last page. So until a walk of the whole drive has completed, the FUSE layer asks
:meth:`Listings.ensure` before it lists a folder, and the folder's children are fetched with
``/children`` and **merged** into the store through the same delta ingest as every page. A
merge never removes anything: a folder created here and not uploaded yet, a name deleted here
and not confirmed, a child delta brought a moment ago all stay (onemount-reference.md §9
L-pending-dir: a refresh that *replaced* a folder's children dropped just-created folders). A
listing that fails leaves the store as it was and the folder not listed, so the next open
tries again (L-listing-refresh: keep the stale data, retry on the next miss).

Each folder is listed at most once per process (concurrent opens share one listing), and not
at all once the enumeration is complete: from then on delta alone keeps the store current.
"""

from __future__ import annotations

import logging

import trio

from onemount.engine.convert import convert
from onemount.engine.delta_walk import Applier, RemoteContext
from onemount.graph import GraphError
from onemount.store import queries

log = logging.getLogger(__name__)


class Listings:
    """On-demand ``/children`` listings while the first enumeration runs."""

    def __init__(self, ctx: RemoteContext, applier: Applier, *, timeout: float) -> None:
        self.ctx = ctx
        self.applier = applier
        self.timeout = timeout
        self.complete = False  # a walk of the whole drive has completed: nothing to list
        self._listed: set[int] = set()
        self._running: dict[int, trio.Event] = {}
        self.listings = 0  # folders listed, for status and tests

    async def ensure(self, ino: int) -> bool:
        """Make the store hold ``ino``'s children; whether it now does (False: the listing
        failed or timed out, and the store shows what it knew)."""
        while True:
            if self.complete or ino in self._listed:
                return True
            running = self._running.get(ino)
            if running is None:
                break
            await running.wait()
            if ino not in self._listed:
                return False  # the listing we waited for failed: do not start another now
        done = self._running[ino] = trio.Event()
        try:
            listed = await self._list(ino)
        finally:
            del self._running[ino]
            done.set()
        if listed:
            self._listed.add(ino)
        return listed

    async def _list(self, ino: int) -> bool:
        client = self.ctx.client
        row = queries.get(self.ctx.store.reader, ino)
        if row is None or row["kind"] != "folder":
            return True  # nothing there to list (the FUSE layer answers from the store)
        if row["remote_id"] is None:
            return True  # created here: the server knows no children of it
        if client is None:
            return False
        with trio.move_on_after(self.timeout) as scope:
            try:
                async for page in client.children(str(row["remote_id"])):
                    await self.applier.apply(
                        convert(page.items, page.rejected), cursor=None, mode="listing"
                    )
            except GraphError as exc:
                log.info("listing folder inode %d failed (%s); kept what the store has", ino, exc)
                return False
        if scope.cancelled_caught:
            log.info("listing folder inode %d took over %g s; shown as known", ino, self.timeout)
            return False
        self.listings += 1
        return True
