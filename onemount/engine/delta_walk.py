"""One delta sync: walk the feed from the stored cursor and apply it, page by page.

Each page (or a few that arrived together) goes through the store's delta ingest in a worker
thread, **with its cursor in the same transaction**: after a crash the cursor never points past
an entry that was not written, and an entry is never applied twice. The reference advanced its
cursor whatever happened to the page and skipped children whose parent came later
(onemount-reference.md §9 L8); the store's ingest applies parents first and holds what cannot
be placed yet, and this module only decides which cursor goes with which page. Fetching the
next page overlaps with applying the previous one (a channel of two pages).

The walks (docs/engine.md, "Remote to local"):

* **incremental**: from the stored cursor (a deltaLink, or the nextLink of a walk that was cut
  short); each page is committed with its own link, so a walk resumes where it stopped.
  **Deletes wait for the walk's last page**: a folder deleted on one page may have had children
  moved out of it by entries on later pages (Graph: "delete a folder locally only if it is
  empty after all changes are applied"), and deleting it at once would take them with it (the
  random-mix test found exactly that). From the first delete on, pages commit without their
  cursor, so a walk cut short comes back to the deletes it had not applied yet; the last page
  applies them all, after every live entry, with the deltaLink.
* **first enumeration**: no cursor and nothing from the server in the store yet. The feed from
  no token, each page committed with its nextLink: a first run cut short resumes too.
* **resync**: no cursor (a 410 made us drop it) and items in the store. The whole drive is
  enumerated again and **reconciled**: items the server no longer lists get ``remote_deleted``,
  and the spec decides what that means for each (a clean item goes, a file with local changes
  becomes a CONFLICT that keeps both versions, a folder with unsent descendants stays as a
  local folder to be created again). Nothing is removed for being absent from a partial view:
  the pages are committed without a cursor, so the old cursor stays until the walk, the
  catch-up deltas after it (items changed while it ran are not in it) and the reconciliation
  commit together with the new deltaLink. A walk cut short (a crash, another 410) starts over.

Elements the client could not parse (:attr:`Page.rejected`) and live items of no known kind
are recorded in the kv key ``delta_rejected`` (id -> reason) before the page that dropped them
commits, so no cursor moves past them unrecorded; they are re-fetched by id (at most every
``rejected_retry`` seconds) and applied once they read, or dropped when the server says 404.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import trio

from onemount import mutations
from onemount.engine import sink
from onemount.engine.bootstrap import ENUMERATED_AT
from onemount.engine.convert import Converted, convert
from onemount.engine.handles import OpenFiles
from onemount.engine.store import EngineStore
from onemount.graph import (
    GraphClient,
    GraphError,
    MalformedResponse,
    NotFound,
    Page,
    ResyncRequired,
)
from onemount.graph.errors import ErrorInfo
from onemount.store import ROOT_INODE, Fired, StateManager, queries
from onemount.store.delta import Entry, IngestReport, ingest
from onemount.store.events import RemoteDeletion

log = logging.getLogger(__name__)

REJECTED = "delta_rejected"  # kv: JSON {item id: reason} of entries not applied yet
CURSOR = "delta_cursor"

Mode = Literal["incremental", "first", "resync"]


class ContentEffects(Protocol):
    def remote_applied(self, fired: Iterable[Fired]) -> None:
        """What an ingest did to content (stale bytes dropped, a pinned file's new version
        fetched, conflicts handed to the outbox): the content cache's business."""


class RemoteContext(Protocol):
    """What remote-to-local work needs of the engine (:class:`~.engine.Engine` has it all)."""

    @property
    def store(self) -> EngineStore: ...
    @property
    def client(self) -> GraphClient | None: ...
    @property
    def files(self) -> OpenFiles: ...
    @property
    def sink(self) -> sink.InvalidationSink: ...
    @property
    def content(self) -> ContentEffects: ...


@dataclass(frozen=True)
class Applied:
    """What one ingest did: for progress reports, status and tests."""

    mode: Mode | Literal["listing", "refetch"]
    entries: int
    changed: int  # transitions written
    held: int
    rejected: int
    cursor: Literal["next", "delta", "none"]


@dataclass
class Outcome:
    """What one sync did."""

    mode: Mode
    pages: int = 0
    entries: int = 0
    changed: int = 0
    resyncs: int = 0  # full walks started over by a 410
    reconciled: int = 0  # items the server no longer lists, given remote_deleted
    completed: bool = False  # the walk reached a deltaLink that is now stored


class Applier:
    """Applies store entries: rejected recorded, ingest with the cursor, the kernel and the
    content cache told.

    ``observer`` sees every :class:`Applied` (progress output, tests).
    """

    def __init__(
        self, ctx: RemoteContext, observer: Callable[[Applied], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.observer = observer
        self._rejected: dict[str, str] | None = None  # the kv value, once read

    async def apply(
        self,
        converted: Converted,
        *,
        cursor: str | None,
        mode: Mode | Literal["listing", "refetch"],
        link: Literal["next", "delta", "none"] = "none",
        finish: Callable[[StateManager], None] | None = None,
    ) -> IngestReport:
        """Apply ``converted`` and store ``cursor`` with it; ``finish`` runs in the same thread
        hop, after the commit (a kv mark that must never come before the cursor)."""
        files = self.ctx.files

        def work(manager: StateManager) -> IngestReport:
            self._note_rejected(manager, converted)
            report = ingest(manager, converted.entries, cursor=cursor, writers=files.writers())
            if finish is not None:
                finish(manager)
            return report

        report = await self.ctx.store.write(work)
        sink.report(self.ctx.sink, report.fired)
        self.ctx.content.remote_applied(report.fired)
        if self.observer is not None:
            changed = sum(1 for f in report.fired if f.written)
            self.observer(
                Applied(
                    mode,
                    len(converted.entries),
                    changed,
                    len(report.held),
                    len(converted.rejected),
                    link,
                )
            )
        return report

    async def rejected(self) -> dict[str, str]:
        """The entries recorded as not applied: id -> why.

        Read holding the writer, like every change of it (a listing may be applying a page in
        a worker thread at this moment)."""
        return await self.ctx.store.write(lambda manager: dict(self._known(manager)))

    def _known(self, manager: StateManager) -> dict[str, str]:
        if self._rejected is None:
            text = queries.kv(manager.conn, REJECTED)
            self._rejected = json.loads(text) if text else {}
        return self._rejected

    def _note_rejected(self, manager: StateManager, converted: Converted) -> None:
        """Record the page's rejected ids, and forget those the page now brings, before the
        page commits (its own transaction: a crash in between only records too much)."""
        known = self._known(manager)
        changed = False
        if known:
            for item in converted.entries:
                changed = known.pop(item.id, None) is not None or changed
        for bad in converted.rejected:
            if bad.id is not None and known.get(bad.id) != bad.reason:
                known[bad.id] = bad.reason
                changed = True
        if changed:
            manager.set_kv(REJECTED, json.dumps(known, sort_keys=True))


@dataclass
class _Walked:
    entries: int = 0
    pages: int = 0
    changed: int = 0
    delta_link: str | None = None
    anonymous_rejects: int = 0  # rejected elements without an id (they could be anything)
    # Deletes wait for the walk's last page: a folder's children may be moved out of it by an
    # entry on a later page, and deleting it first would take them with it. While any delete
    # waits, pages commit without their cursor, so a walk cut short comes back for them.
    deferred: dict[str, RemoteDeletion] = field(default_factory=dict)
    deferring: bool = False


@dataclass(frozen=True)
class WalkConfig:
    """``batch``: entries merged into one ingest when pages arrive faster than they apply
    (a few pages, no more: the store's per-entry savepoint copies the transaction's caches,
    so an entry costs more the bigger its page; 200 to 500 measured best);
    ``resync_attempts``: full walks started over by a 410 before the sync counts as failed;
    ``catch_ups``: deltas after a resync walk, for the items changed while it ran."""

    batch: int = 500
    resync_attempts: int = 3
    catch_ups: int = 3
    rejected_retry: float = 600.0


class Walker:
    """Runs one sync (:meth:`sync`) through an :class:`Applier`."""

    def __init__(
        self, ctx: RemoteContext, applier: Applier, config: WalkConfig | None = None
    ) -> None:
        self.ctx = ctx
        self.applier = applier
        self.config = config or WalkConfig()
        self._refetched_at = -math.inf

    async def sync(self) -> Outcome:
        """Walk from the stored cursor (or enumerate), apply everything, store the new cursor.

        Raises the client's error when the walk fails (the cursor stays where the last
        committed page left it); a 410 is handled here.
        """
        cursor = queries.kv(self.ctx.store.reader, CURSOR)
        if cursor is not None:
            try:
                outcome = await self._incremental(cursor)
            except ResyncRequired:
                log.warning("delta cursor expired (410): enumerating the drive again")
                outcome = await self._full(resyncs=1)
        else:
            outcome = await self._full(resyncs=0)
        await self._refetch_rejected()
        return outcome

    # -- the walks -------------------------------------------------------------------------------

    async def _incremental(self, cursor: str) -> Outcome:
        walked = await self._walk(cursor, mode="incremental", keep_links=True)
        return Outcome("incremental", walked.pages, walked.entries, walked.changed, completed=True)

    async def _full(self, *, resyncs: int) -> Outcome:
        for attempt in range(self.config.resync_attempts):
            candidates = await self.ctx.store.write(_server_items)
            try:
                if not candidates:
                    walked = await self._walk(None, mode="first", keep_links=True)
                    return Outcome("first", walked.pages, walked.entries, walked.changed,
                                   resyncs=resyncs, completed=True)  # fmt: skip
                return await self._resync(candidates, resyncs)
            except ResyncRequired:
                resyncs += 1
                log.warning("410 during a full walk (attempt %d): starting over", attempt + 1)
        raise ResyncRequired(ErrorInfo(None), None)

    async def _resync(self, candidates: set[str], resyncs: int) -> Outcome:
        seen: set[str] = set()
        walked = await self._walk(None, mode="resync", keep_links=False, seen=seen)
        outcome = Outcome("resync", walked.pages, walked.entries, walked.changed, resyncs=resyncs)
        link, anonymous = walked.delta_link, walked.anonymous_rejects
        for _ in range(self.config.catch_ups):
            assert link is not None
            more = await self._walk(link, mode="resync", keep_links=False, seen=seen)
            outcome.pages += more.pages
            outcome.entries += more.entries
            outcome.changed += more.changed
            link, anonymous = more.delta_link, anonymous + more.anonymous_rejects
            if not more.entries:
                break
        gone = candidates - seen - set(await self.applier.rejected())
        if anonymous:
            log.warning(
                "resync: %d unreadable entries without an id; nothing is removed this time"
                " (%d items not listed are kept until a resync without them)",
                anonymous,
                len(gone),
            )
            gone = set()
        deletions = Converted(entries=[RemoteDeletion(id=i) for i in sorted(gone)])
        report = await self.applier.apply(
            deletions, cursor=link, mode="resync", link="delta", finish=_mark_enumerated
        )
        outcome.reconciled = len(gone)
        outcome.changed += sum(1 for f in report.fired if f.written)
        outcome.completed = True
        log.info(
            "resync done: %d entries, %d items no longer on the server", outcome.entries, len(gone)
        )
        return outcome

    async def _walk(
        self, cursor: str | None, *, mode: Mode, keep_links: bool, seen: set[str] | None = None
    ) -> _Walked:
        """Fetch pages from ``cursor`` (in a task of their own) and apply them as they come."""
        client = self.ctx.client
        assert client is not None
        pages = client.delta(cursor)
        walked = _Walked()
        send, receive = trio.open_memory_channel[Page | GraphError](2)

        async def fetch() -> None:
            async with send:
                try:
                    async for page in pages:
                        if mutations.on("cursor_before_apply") and keep_links:
                            await self.ctx.store.write(_store_cursor(page))
                        await send.send(page)
                except GraphError as exc:
                    await send.send(exc)

        failure: GraphError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch)
            try:
                await self._consume(receive, walked, mode=mode, keep_links=keep_links, seen=seen)
            except GraphError as exc:
                failure = exc
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
        walked.delta_link = pages.delta_link
        return walked

    async def _consume(
        self,
        receive: trio.MemoryReceiveChannel[Page | GraphError],
        walked: _Walked,
        *,
        mode: Mode,
        keep_links: bool,
        seen: set[str] | None,
    ) -> None:
        async with receive:
            async for first in receive:
                batch = [first]
                size = len(first.items) if isinstance(first, Page) else 0
                # Pages that are already here go in one transaction, up to ``batch`` entries.
                while size < self.config.batch and isinstance(batch[-1], Page):
                    try:
                        more = receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    batch.append(more)
                    size += len(more.items) if isinstance(more, Page) else 0
                pages = [p for p in batch if isinstance(p, Page)]
                if pages:
                    await self._apply_pages(pages, walked, mode, keep_links, seen)
                if isinstance(batch[-1], GraphError):
                    raise batch[-1]

    async def _apply_pages(
        self,
        pages: list[Page],
        walked: _Walked,
        mode: Mode,
        keep_links: bool,
        seen: set[str] | None,
    ) -> None:
        converted = convert(
            (item for page in pages for item in page.items),
            (bad for page in pages for bad in page.rejected),
        )
        last = pages[-1]
        final = last.delta_link is not None
        if seen is not None:
            seen.update(e.id for e in converted.entries)
            seen.update(r.id for r in converted.rejected if r.id is not None)
        walked.anonymous_rejects += sum(1 for r in converted.rejected if r.id is None)
        live: list[Entry] = []
        for item in converted.entries:
            if isinstance(item, RemoteDeletion):
                walked.deferred.pop(item.id, None)  # the last occurrence wins, at its place
                walked.deferred[item.id] = item
                walked.deferring = True
            else:
                walked.deferred.pop(item.id, None)
                live.append(item)
        if final:
            live = [*walked.deferred.values(), *live]
            walked.deferred.clear()
        link: Literal["next", "delta", "none"] = "delta" if final else "next"
        cursor = last.delta_link or last.next_link
        if not keep_links or (walked.deferring and not final):
            cursor, link = None, "none"
        finish = _mark_enumerated if keep_links and final else None
        report = await self.applier.apply(
            Converted(live, converted.rejected, converted.shared),
            cursor=cursor,
            mode=mode,
            link=link,
            finish=finish,
        )
        walked.pages += len(pages)
        walked.entries += len(converted.entries)
        walked.changed += sum(1 for f in report.fired if f.written)

    # -- rejected entries ---------------------------------------------------------------------

    async def _refetch_rejected(self) -> None:
        """Ask the server again for each entry recorded as not applied (rate-limited)."""
        now = trio.current_time()
        if now - self._refetched_at < self.config.rejected_retry:
            return
        self._refetched_at = now
        rejected = await self.applier.rejected()
        if not rejected:
            return
        client = self.ctx.client
        assert client is not None
        found = Converted()
        for item_id in sorted(rejected):
            try:
                item = await client.item(item_id)
            except NotFound:
                found.entries.append(RemoteDeletion(id=item_id))
                continue
            except MalformedResponse as exc:
                log.debug("entry %s still unreadable: %s", item_id, exc)
                continue
            except GraphError as exc:  # the sync itself succeeded: try these another time
                log.info("re-fetching rejected entries stopped: %s", exc)
                break
            more = convert([item])
            found.entries.extend(more.entries)
            found.rejected.extend(more.rejected)
            if more.shared:  # now a shared item, which is not shown: nothing to wait for
                found.entries.append(RemoteDeletion(id=item_id))
        if found.entries:
            await self.applier.apply(found, cursor=None, mode="refetch")


def _server_items(manager: StateManager) -> set[str]:
    """Ids of every item the store holds from the server, but the root (the resync's list of
    what must show up again or be reconciled)."""
    return {
        str(remote_id)
        for (remote_id,) in manager.conn.execute(
            "SELECT remote_id FROM items WHERE remote_id IS NOT NULL AND ino <> ?", (ROOT_INODE,)
        )
    }


def _store_cursor(page: Page) -> Callable[[StateManager], None]:
    """The old cursor handling (a mutation switch): a page's link stored as it comes."""
    cursor = page.delta_link or page.next_link
    return lambda manager: manager.set_kv(CURSOR, cursor) if cursor else None


def _mark_enumerated(manager: StateManager) -> None:
    if queries.kv(manager.conn, ENUMERATED_AT) is None:
        manager.set_kv(ENUMERATED_AT, repr(manager.now()))
