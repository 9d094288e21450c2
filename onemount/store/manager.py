"""StateManager: the only code that creates, changes the state of, or purges an item row.

``fire`` loads the row, evaluates the guards the spec names against the row and the event's
typed payload (:mod:`.events`), asks the compiled table for the target, applies the declared
effects, writes the row, queues or clears intents and appends the journal, all in one
transaction; a refused event raises ``InvalidTransition`` and changes nothing. A trigger in the
schema refuses every other write of ``state``: fire opens the door by putting a row in
``fire_token`` for the length of its transaction, and closes it before commit.

Live names are unique among siblings (case-folded), checked when the transaction commits rather
than per statement, because a delta page may swap two names or move one item onto another's
name before that one leaves it (:mod:`.delta` resolves real collisions before they get here).

The outbox side (:meth:`StateManager.start_job`, :meth:`~StateManager.finish_job`,
:meth:`~StateManager.recover_jobs`) records a job's outcome and its item's event in one
transaction, so a crash can never leave an item dirty behind a finished job.

One StateManager owns the single writer connection. apsw connections may move between threads
but must not be used concurrently: the engine calls it from one worker thread at a time
(``trio.to_thread`` behind a ``CapacityLimiter(1)``); FUSE lookups use read-only connections.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import apsw

from onemount.names import DriveKind
from onemount.statemachine import InvalidTransition, compiled
from onemount.store import item_bindings, upload_bindings
from onemount.store.db import open_writer
from onemount.store.events import (
    LocalCreated,
    LocalDeleted,
    LocalRenamed,
    NameCollided,
    Payload,
    RemoteAppeared,
    RemoteDeleted,
    RemoteState,
    VirtualCreated,
)
from onemount.store.item_bindings import EffectContext, GuardContext, Row, new_local_id
from onemount.store.names import check_user_name, name_key, remote_name
from onemount.store.schema import ITEM_COLUMNS, ROOT_INODE, SELECT_ITEMS, as_row

__all__ = [
    "Event",
    "Fired",
    "InvalidPlacement",
    "InvalidTransition",
    "JobGone",
    "JobReport",
    "NameTaken",
    "NotEmpty",
    "Snapshot",
    "StateManager",
    "UnknownItem",
]

ItemRef = int | str | None  # an inode, an item id (local or remote), or None for a new item

_BY_INO = f"{SELECT_ITEMS} WHERE ino = ?"
_BY_ID = f"{SELECT_ITEMS} WHERE item_id = ?"
# A batch's rows in one statement whatever its size: the refs go in as one JSON array, so the
# prepared statement is reused from page to page (an IN list of ? would differ in length).
_BY_INOS = f"{SELECT_ITEMS} WHERE ino IN (SELECT value FROM json_each(?))"
_BY_IDS = f"{SELECT_ITEMS} WHERE item_id IN (SELECT value FROM json_each(?))"
_INSERT_VALUES = itemgetter(*ITEM_COLUMNS)
# A new row before the creation event's effects: every column NULL but the counters and flags.
_NEW_ROW: Row = dict.fromkeys(ITEM_COLUMNS) | dict.fromkeys(
    ("virtual", "pinned", "has_local_changes", "local_change_seq", "size"), 0
)
_UPDATE_VALUES = itemgetter(*ITEM_COLUMNS[1:], "ino")
_INSERT = (
    f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) VALUES ({', '.join('?' * len(ITEM_COLUMNS))})"
)
_UPDATE = f"UPDATE items SET {', '.join(f'{c} = ?' for c in ITEM_COLUMNS[1:])} WHERE ino = ?"
_JOURNAL = (
    "INSERT INTO journal (ino, item_id, machine, from_state, event, to_state, at, worker, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Deepest first; the walk carries the columns it returns, so it reads only the subtree (through
# items_parent) and never joins back to a scan of the whole table.
_SUBTREE = """
WITH RECURSIVE sub(ino, item_id, state, depth) AS (
    SELECT ino, item_id, state, 1 FROM items WHERE parent_ino = ?
    UNION ALL SELECT items.ino, items.item_id, items.state, sub.depth + 1
    FROM items JOIN sub ON items.parent_ino = sub.ino
)
SELECT ino, item_id, state FROM sub ORDER BY depth DESC
"""
# Rows on the way up from an item; a row equal to the item itself means a cycle.
_ANCESTOR_IS_SELF = """
WITH RECURSIVE up(ino, steps) AS (
    SELECT parent_ino, 1 FROM items WHERE ino = ?1
    UNION ALL SELECT items.parent_ino, up.steps + 1 FROM items JOIN up ON items.ino = up.ino
    WHERE up.ino <> ?1 AND up.steps < 100000
)
SELECT 1 FROM up WHERE ino = ?1 LIMIT 1
"""
_LIVE_AT = (
    "SELECT ino FROM items WHERE parent_ino = ? AND name_key = ? AND state <> 'DELETED_LOCAL'"
)
# The (parent, key) pairs of a JSON array that more than one live item holds.
_SHARED_NAMES = """
SELECT items.parent_ino, items.name_key, group_concat(items.ino, ', ')
FROM json_each(?) AS pair
JOIN items ON items.parent_ino = pair.value ->> 0 AND items.name_key = pair.value ->> 1
WHERE items.state <> 'DELETED_LOCAL'
GROUP BY items.parent_ino, items.name_key HAVING count(*) > 1
"""
_TERMINAL_JOBS = frozenset({"COMPLETED", "CONFLICTED", "FAILED", "CANCELLED"})
# One intent per item and kind. A new upload of an item whose job is waiting (not sending)
# forgets the old session and snapshot: its next attempt sends the current bytes from byte 0,
# never the rest of an older version stitched onto the new one.
_ADD_INTENT = (
    "INSERT INTO intents (ino, kind, created, next_attempt) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (ino, kind) DO UPDATE SET"
    " session_url = CASE WHEN job_state = 'UPLOADING' THEN session_url END,"
    " session_offset = CASE WHEN job_state = 'UPLOADING' THEN session_offset END,"
    " snapshot_seq = CASE WHEN job_state = 'UPLOADING' THEN snapshot_seq END,"
    " snapshot_hash = CASE WHEN job_state = 'UPLOADING' THEN snapshot_hash END,"
    " snapshot_size = CASE WHEN job_state = 'UPLOADING' THEN snapshot_size END"
)
_JOB_COLUMNS = (
    "id",
    "ino",
    "kind",
    "attempts",
    "next_attempt",
    "job_state",
    "session_url",
    "session_offset",
    "last_error",
)
_NOTE_WRITE = (
    "UPDATE items SET size = ?, mtime = ?, local_change_seq = local_change_seq + 1,"
    " cached_hash = ?, updated = ? WHERE ino = ? AND state IN ('DIRTY_LOCAL', 'CONFLICT')"
)
_FORGET_STALE_SESSION = (
    "UPDATE intents SET session_url = NULL, session_offset = NULL, snapshot_seq = NULL,"
    " snapshot_hash = NULL, snapshot_size = NULL WHERE ino = ? AND kind = 'upload'"
    " AND job_state <> 'UPLOADING' AND (session_url IS NOT NULL OR snapshot_seq IS NOT NULL)"
)
# Columns a no-op comparison ignores: bookkeeping that changes on every write.
_VOLATILE = frozenset({"updated"})


class UnknownItem(KeyError):
    """The item (or the parent an event names) has no row."""


class InvalidPlacement(ValueError):
    """An item would sit under a file, or a folder inside its own subtree."""


class NameTaken(ValueError):
    """Two live siblings would share a case-folded name (the FUSE layer answers EEXIST)."""


class NotEmpty(ValueError):
    """rmdir of a folder that still has live children (the FUSE layer answers ENOTEMPTY)."""


class JobGone(LookupError):
    """The job's intent is no longer in the outbox (cancelled while it ran, or finished)."""


@dataclass(frozen=True)
class Event:
    """One event of a batch: ``item`` is an inode, an item id, or ``None`` for a new item."""

    item: ItemRef
    payload: Payload
    detail: str | None = None


@dataclass(frozen=True)
class Fired:
    """What a fire did: the item's inode and id after it, the transition, where it sits.

    ``written`` is False for a self-loop that changed nothing (a delta entry for an item we
    already hold as it is): nothing was written or journaled. The placements before and after
    let the FUSE layer invalidate the kernel's entries for exactly the names that changed.
    """

    ino: int
    item_id: str
    source: str
    event: str
    target: str
    written: bool = True
    parent_before: int | None = None
    name_before: str | None = None
    parent_after: int | None = None
    name_after: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """The immutable copy of an item's bytes an upload sends: its change sequence and hash."""

    seq: int
    hash: str | None
    size: int


@dataclass(frozen=True)
class JobReport:
    """An event of the job machine (spec/upload.yaml) and the facts it carries."""

    event: str
    session_url: str | None = None
    offset: int | None = None
    error: str | None = None
    retry_after: float | None = None


@dataclass
class _Scratch:
    """What one fire transaction knows besides the database; dropped when it ends.

    Every entry is exact, not a guess: a prefetched row leaves ``rows`` when its own event
    loads it (that event rewrites or purges it) or when a purge takes it, and ``inos`` and
    ``folders`` follow every insert, change of id and purge. So a batch reads what the
    database holds at that point of the transaction, only without a query per event.
    """

    placed: list[int] = field(default_factory=list)  # items moved: checked before commit
    named: list[tuple[int, str]] = field(default_factory=list)  # (parent, key) taken: checked
    folders: set[int] = field(default_factory=set)  # inodes known to be folders
    journal: list[tuple[Any, ...]] = field(default_factory=list)  # written in order at commit
    rows: dict[int | str, Row] = field(default_factory=dict)  # prefetched, by inode and by id
    absent: set[str] = field(default_factory=set)  # ids the prefetch found no row for
    inos: dict[str, int] = field(default_factory=dict)  # item id -> inode
    nested: list[Fired] = field(default_factory=list)  # fired inside another fire

    def forget(self, ino: int, item_id: str) -> None:
        """The row is gone (purged): it is neither a parent nor a folder any more."""
        self.rows.pop(ino, None)
        self.rows.pop(item_id, None)
        self.inos.pop(item_id, None)
        self.folders.discard(ino)


class _LazyGuards(Mapping[str, bool]):
    """Guards computed on first access: resolve reads only the names its candidates use.

    Each is computed once: candidates of one event often name the same guard (``cond: x`` and
    ``unless: x``), and ``has_unsent_descendants`` is a recursive query.
    """

    __slots__ = ("_ctx", "_known")

    def __init__(self, ctx: GuardContext) -> None:
        self._ctx = ctx
        self._known: dict[str, bool] = {}

    def __getitem__(self, name: str) -> bool:
        known = self._known.get(name)
        if known is None:
            known = self._known[name] = item_bindings.GUARDS[name](self._ctx)
        return known

    def __iter__(self) -> Iterator[str]:
        return iter(item_bindings.GUARDS)

    def __len__(self) -> int:
        return len(item_bindings.GUARDS)


def moving_locally(row: Row) -> bool:
    """The server has the item, and a move of ours to where the row is now is pending."""
    return row["remote_id"] is not None and (row["parent_ino"], row["name_key"]) != (
        row["remote_parent_ino"],
        row["remote_name_key"],
    )


def placed_locally(row: Row) -> bool:
    """The row's name there is ours, not the server's: created here, or renamed here."""
    return row["remote_id"] is None or moving_locally(row)


def remote_of(payload: Payload) -> RemoteState | None:
    """The server item a payload carries (its reply, its delta entry, its arrival), if any."""
    remote = getattr(payload, "remote", None)
    if remote is None and isinstance(payload, NameCollided):
        remote = payload.arrival
    return remote if isinstance(remote, RemoteState) else None


class StateManager:
    """The writer of metadata_v2. Build it with :meth:`open` (which migrates) or on a connection.

    ``drive`` selects OneDrive's naming rules for names the user gives; until the engine knows
    the drive's kind, the stricter Business rules apply (a refused name costs a rename, an
    accepted one the server refuses costs a failed upload later).
    """

    def __init__(
        self,
        conn: apsw.Connection,
        *,
        worker: str | None = None,
        clock: Callable[[], float] = time.time,
        drive: DriveKind = DriveKind.BUSINESS,
    ) -> None:
        self.conn = conn
        self.worker = worker
        self.drive = drive
        self._clock = clock
        self._tx = _Scratch()  # the open fire transaction's; replaced at each BEGIN
        self._item = compiled("item")
        self._upload = compiled("upload")

    @classmethod
    def open(
        cls, path: str | Path, *, worker: str | None = None, drive: DriveKind = DriveKind.BUSINESS
    ) -> StateManager:
        return cls(open_writer(path), worker=worker, drive=drive)

    def close(self) -> None:
        self.conn.close()

    def now(self) -> float:
        return self._clock()

    # ---- transitions -------------------------------------------------------------------------

    def fire(self, item: ItemRef, payload: Payload, *, detail: str | None = None) -> Fired:
        """Apply one event in its own transaction; :class:`InvalidTransition` changes nothing."""
        with self.transaction():
            return self.apply(item, payload, detail)

    def fire_batch(
        self, events: Iterable[Event], *, delta_cursor: str | None = None
    ) -> list[Fired]:
        """Apply many events in one transaction, all or none.

        ``delta_cursor`` is stored in the same transaction, so after a crash the cursor never
        points past items that were not written. (A delta page goes through
        :func:`onemount.store.delta.ingest`, which never refuses a page for one item.)
        """
        with self.transaction():
            events = list(events)  # a generator that fails part-way still rolls back
            self.prefetch(events)
            fired = [self.apply(e.item, e.payload, e.detail) for e in events]
            if delta_cursor is not None:
                self.put_kv("delta_cursor", delta_cursor)
            return fired

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction with the state door open; the checks run before commit."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE; INSERT INTO fire_token VALUES (1)")
        self._tx = _Scratch()
        try:
            yield
            # One executemany in event order: seq numbers follow the transitions as before,
            # and the rows commit (or roll back) with the items they describe.
            conn.executemany(_JOURNAL, self._tx.journal)
            self._check_placements()
            self._check_names()
            conn.execute("DELETE FROM fire_token")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def nested_fired(self) -> list[Fired]:
        """What the open transaction fired inside other fires, for the kernel's caches too.

        An echo's twin leaving, the children it hands over (``handed_over``, no transition), a
        child of ours moved aside by one of them, a conflict copy: the caller reports these
        with the Fired its own events returned.
        """
        return list(self._tx.nested)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested part of the open transaction that can fail alone (one delta entry).

        The lists that grow with the transaction (journal, placement and name checks) are cut
        back to their length at the savepoint, and the caches (which only save queries) are
        dropped on a rollback: a savepoint costs O(1), not a copy of a page's worth of state.
        """
        tx = self._tx
        marks = (len(tx.journal), len(tx.placed), len(tx.named), len(tx.nested))
        self.conn.execute("SAVEPOINT entry")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO entry; RELEASE entry")
            del tx.journal[marks[0] :]
            del tx.placed[marks[1] :]
            del tx.named[marks[2] :]
            del tx.nested[marks[3] :]
            for cache in (tx.rows, tx.inos, tx.folders, tx.absent):
                cache.clear()  # they may describe the rolled-back writes
            raise
        self.conn.execute("RELEASE entry")

    def prefetch(self, events: Sequence[Event]) -> None:
        """Load every row a batch names, as its item or a parent, in one query per kind of ref.

        A delta page otherwise pays two lookups per event (the row, the parent's inode) on top
        of its writes.
        """
        ids: set[str] = set()
        inos: set[int] = set()
        for e in events:
            remote = remote_of(e.payload)
            refs: tuple[object, ...] = (e.item, getattr(e.payload, "parent", None))
            if remote is not None:
                refs += (remote.id, remote.parent_id)
            for ref in refs:
                if isinstance(ref, str):
                    ids.add(ref)
                elif isinstance(ref, int):
                    inos.add(ref)
        self.prefetch_refs(ids, inos)

    def prefetch_refs(self, ids: set[str], inos: set[int]) -> None:
        tx = self._tx
        tx.absent.update(ids)
        for query, refs in ((_BY_IDS, ids), (_BY_INOS, inos)):
            if not refs:
                continue
            for found in self.conn.execute(query, (json.dumps(sorted(refs)),)):
                row = as_row(found)
                tx.rows[row["ino"]] = tx.rows[row["item_id"]] = row
                tx.inos[row["item_id"]] = row["ino"]
                tx.absent.discard(row["item_id"])
                if row["kind"] == "folder":
                    tx.folders.add(row["ino"])

    def load(self, item: ItemRef) -> Row | None:
        """The row of ``item`` inside the open transaction (a fresh copy the caller may edit)."""
        if item is None:
            return None
        tx = self._tx
        row = tx.rows.pop(item, None)
        if row is not None:  # its event rewrites it: the next event must not see this copy
            tx.rows.pop(row["item_id"] if isinstance(item, int) else row["ino"], None)
            return row
        if isinstance(item, str) and item in tx.absent:
            return None
        query = _BY_INO if isinstance(item, int) else _BY_ID
        found = self.conn.execute(query, (item,)).fetchone()
        return None if found is None else as_row(found)

    def peek(self, item: ItemRef) -> Row | None:
        """Like :meth:`load`, without taking a prefetched copy away from its event."""
        if item is None:
            return None
        row = self._tx.rows.get(item)
        if row is not None:
            return dict(row)
        if isinstance(item, str) and item in self._tx.absent:
            return None
        query = _BY_INO if isinstance(item, int) else _BY_ID
        found = self.conn.execute(query, (item,)).fetchone()
        return None if found is None else as_row(found)

    def ino_of(self, ref: int | str) -> int | None:
        """The inode of an item id, or None when no row has it."""
        if isinstance(ref, int):
            return ref
        ino = self._tx.inos.get(ref)
        if ino is not None:
            return ino
        if ref in self._tx.absent:
            return None
        found = self.conn.execute("SELECT ino FROM items WHERE item_id = ?", (ref,)).fetchone()
        if found is None:
            return None
        self._tx.inos[ref] = ino = int(found[0])
        return ino

    def target_of(self, item: ItemRef, payload: Payload) -> str:
        """The state ``payload`` would take ``item`` to, without applying it (or ``"?"``)."""
        row = self.peek(item)
        source = "ABSENT" if row is None else row["state"]
        guards = GuardContext(self.conn, row, payload, self._remote_parent(remote_of(payload)))
        try:
            return self._item.resolve(source, payload.EVENT, _LazyGuards(guards)).target
        except InvalidTransition:
            return "?"

    def live_at(self, parent_ino: int, key: str, *, besides: int | None = None) -> int | None:
        """The live item under ``parent_ino`` whose case-folded name is ``key``, if any."""
        for (ino,) in self.conn.execute(_LIVE_AT, (parent_ino, key)):
            if ino != besides:
                return int(ino)
        return None

    def name_taken(self, parent_ino: int, key: str) -> bool:
        return self.live_at(parent_ino, key) is not None

    def apply(self, item: ItemRef, payload: Payload, detail: str | None) -> Fired:
        """Fire inside the open transaction (``fire`` and ``fire_batch`` wrap this)."""
        event = payload.EVENT
        remote = remote_of(payload)
        if isinstance(payload, RemoteAppeared):
            item = payload.remote.id
        row = self.load(item)
        if row is None and isinstance(item, int) and item != ROOT_INODE:
            raise UnknownItem(f"no inode {item}")
        source = "ABSENT" if row is None else row["state"]
        remote_parent = self._remote_parent(remote)
        guards = GuardContext(self.conn, row, payload, remote_parent)
        transition = self._item.resolve(source, event, _LazyGuards(guards))
        if isinstance(payload, LocalCreated | LocalRenamed | VirtualCreated):
            check_user_name(payload.name, self.drive)
        if isinstance(payload, LocalDeleted) and row is not None and row["kind"] == "folder":
            self._require_empty(row["ino"])
        now = self._clock()
        creating = row is None
        if row is None:
            row = self._new_row(payload, remote_parent, now)
            guards.row = row
            self._require_folder(row["parent_ino"])
        before = dict(row)
        placed = (None, None) if creating else (before["parent_ino"], before["name"])
        effects = EffectContext(row, payload, guards, now, self.worker, name_taken=self.name_taken)
        for name in transition.effects:
            item_bindings.EFFECTS[name](effects)
        row["state"] = transition.target
        if not (creating or effects.intents or effects.spawn or effects.purge) and all(
            row[c] == before[c] for c in ITEM_COLUMNS if c not in _VOLATILE
        ):
            # A delta entry for an item we hold exactly so: no write, no journal row.
            self._tx.inos[row["item_id"]] = row["ino"]
            return Fired(
                row["ino"], row["item_id"], source, event, row["state"], False, *placed, *placed
            )
        row["updated"] = now
        tx = self._tx
        handed_over: list[int] = []
        if not creating and row["item_id"] != before["item_id"]:
            handed_over = self._absorb_echo(row["item_id"], row)  # our id for the server's
        if creating:
            self.conn.execute(_INSERT, _INSERT_VALUES(row))
            row["ino"] = self.conn.last_insert_rowid()
        elif not effects.purge:
            self.conn.execute(_UPDATE, _UPDATE_VALUES(row))
        if effects.moved:
            tx.placed.append(row["ino"])
        if row["parent_ino"] is not None and not effects.purge and row["state"] != "DELETED_LOCAL":
            renamed = (row["parent_ino"], row["name_key"]) != (
                before["parent_ino"],
                before["name_key"],
            )
            if creating or renamed or source == "DELETED_LOCAL":
                tx.named.append((row["parent_ino"], row["name_key"]))
        self._apply_intents(row, effects.intents, now)
        if row["item_id"] != before["item_id"]:  # a local id exchanged for the server's, or back
            tx.inos.pop(before["item_id"], None)
        if effects.purge:
            self._purge(row, event, now, detail)
        else:
            tx.inos[row["item_id"]] = row["ino"]
            tx.absent.discard(row["item_id"])
            if row["kind"] == "folder":
                tx.folders.add(row["ino"])
        tx.journal.append(
            (
                row["ino"],
                row["item_id"],
                "item",
                source,
                event,
                row["state"],
                now,
                self.worker,
                detail,
            )
        )
        if handed_over:
            self._settle_handed_over(row, handed_over)
        for copy in effects.spawn:
            tx.nested.append(self.apply(None, copy, f"conflict copy of inode {row['ino']}"))
        after = (None, None) if effects.purge else (row["parent_ino"], row["name"])
        return Fired(row["ino"], row["item_id"], source, event, row["state"], True, *placed, *after)

    def _remote_parent(self, remote: RemoteState | None) -> int | None:
        """The inode of the parent a server item names (None for the root)."""
        if remote is None or remote.parent_id is None:
            return None
        ino = self.ino_of(remote.parent_id)
        if ino is None:
            raise UnknownItem(f"no parent {remote.parent_id!r} for {remote.id!r}")
        return ino

    def _new_row(self, payload: Payload, remote_parent: int | None, now: float) -> Row:
        row = _NEW_ROW.copy()
        row["created"] = now
        row["mtime"] = now
        if isinstance(payload, RemoteAppeared):
            remote = payload.remote
            if remote.parent_id is None:
                row["ino"] = ROOT_INODE
            row["item_id"] = remote.id
            row["parent_ino"] = remote_parent
            row["name"] = remote_name(remote.name)
            row["kind"] = remote.kind
        elif isinstance(payload, LocalCreated | VirtualCreated):
            row["item_id"] = new_local_id()
            row["parent_ino"] = payload.parent
            row["name"] = payload.name
            row["kind"] = payload.kind if isinstance(payload, LocalCreated) else "file"
            row["size"], row["mtime"] = payload.size, payload.mtime
            row["pending_remote"] = 1
        else:  # the spec declares no other creation event
            raise InvalidTransition("item", "ABSENT", payload.EVENT, "undeclared")
        row["name_key"] = name_key(row["name"])
        return row

    def _absorb_echo(self, remote_id: str, row: Row) -> list[int]:
        """Another row holding the server id ``row`` is taking is our own item, ingested early.

        Delta can list our new file (under the name the create carried) before the create's
        reply arrives; when the user renamed it meanwhile, the ingest saw no local item there
        and made a second row. It is clean by construction (a fresh GHOST): it goes here, through
        the spec's ``remote_deleted``, in the transaction that gives ``row`` the id, so the inode
        the user holds keeps it. A folder adopted so (our new folder and the server's of the
        same name are one) may have children there, which are that id's children: they move
        under ``row`` first, so that the twin leaves alone and no item the server has is
        purged. Returns the live children handed over, for :meth:`_settle_handed_over`.
        """
        other = self.ino_of(remote_id)
        if other is None or other == row["ino"]:
            return []
        twin = self.peek(other)
        if twin is None:
            return []
        if twin["has_local_changes"] or twin["kind"] != row["kind"]:
            raise NameTaken(
                f"server item {remote_id!r} is held by inode {other}, which has local changes"
            )
        handed_over = self._hand_over_children(other, row)
        # Through the spec like any removal: to this store the twin is an item that left.
        detail = f"the echo of inode {row['ino']}'s create"
        self._tx.nested.append(self.apply(other, RemoteDeleted(writers=False), detail))
        return handed_over

    def _hand_over_children(self, twin: int, row: Row) -> list[int]:
        """Children of ``twin`` (here and as the server places them) become ``row``'s."""
        conn, tx = self.conn, self._tx
        live = [
            (int(ino), str(item_id), str(state), str(name), str(key))
            for ino, item_id, state, name, key in conn.execute(
                "SELECT ino, item_id, state, name, name_key FROM items"
                " WHERE parent_ino = ? AND state <> 'DELETED_LOCAL'",
                (twin,),
            )
        ]
        conn.execute("UPDATE items SET parent_ino = ? WHERE parent_ino = ?", (row["ino"], twin))
        if conn.changes():
            self.check_placement(row["ino"])  # ours was made inside the server's folder
        conn.execute(
            "UPDATE items SET remote_parent_ino = ? WHERE remote_parent_ino = ?", (row["ino"], twin)
        )
        for ref, cached in list(tx.rows.items()):  # the copies of the rows just rewritten
            if twin in (cached["parent_ino"], cached["remote_parent_ino"]):
                del tx.rows[ref]
        for ino, item_id, state, name, key in live:
            tx.named.append((row["ino"], key))
            # Not a transition of its own: the kernel learns the name moved to another folder.
            tx.nested.append(
                Fired(ino, item_id, state, "handed_over", state, True, twin, name, row["ino"], name)
            )
        return [ino for ino, *_ in live]

    def _settle_handed_over(self, folder: Row, handed_over: list[int]) -> None:
        """Each child the twin handed over that shares a name with one of ``folder``'s own.

        Until now ``folder`` was not on the server, so its own children are placed here: as if
        the handed-over child had arrived through delta, ``name_collided`` moves ours aside or
        adopts it (our new folder and the server's again, one level down). A child that came
        under the twin by a move of ours has no server name there to arrive with: the event
        is refused (NameTaken), so that a delta entry is held rather than a name lost.
        """
        for ino in handed_over:
            child = self.peek(ino)
            if child is None or child["state"] == "DELETED_LOCAL":
                continue  # adopted by one of ours meanwhile
            mine = self.live_at(folder["ino"], child["name_key"], besides=ino)
            if mine is None:
                continue
            ours = self.peek(mine)
            assert ours is not None
            if moving_locally(child) or child["remote_id"] is None or not placed_locally(ours):
                raise NameTaken(
                    f"inodes {ino} and {mine} would share the name {child['name']!r} in folder"
                    f" inode {folder['ino']}"
                )
            arrival = RemoteState(
                id=child["remote_id"],
                name=child["remote_name"],
                parent_id=folder["item_id"],
                kind=child["kind"],
                etag=child["etag"],
                ctag=child["ctag"],
                hash=child["remote_hash"],
                size=child["size"],
                mtime=child["mtime"],
            )
            detail = f"inode {ino} came with its folder"
            self._tx.nested.append(self.apply(mine, NameCollided(arrival=arrival), detail))

    def _apply_intents(self, row: Row, operations: list[tuple[str, str]], now: float) -> None:
        """Run the outbox operations the effects queued, coalesced per item."""
        conn, ino = self.conn, row["ino"]
        for operation, kind in operations:
            if operation == "drop":
                if kind == "*":
                    conn.execute("DELETE FROM intents WHERE ino = ?", (ino,))
                else:
                    conn.execute("DELETE FROM intents WHERE ino = ? AND kind = ?", (ino, kind))
            else:
                conn.execute(_ADD_INTENT, (ino, kind, now, now))

    def _check_placements(self) -> None:
        """Refuse the transaction if it moved an item under a file or a folder under itself.

        Checked once before commit, not per event: a delta page may move A under B before it
        moves B out from under A, a cycle that exists only halfway through the page.
        """
        for ino in self._tx.placed:
            self.check_placement(ino)

    def check_placement(self, ino: int) -> None:
        parent = self.conn.execute("SELECT parent_ino FROM items WHERE ino = ?", (ino,))
        found = parent.fetchone()
        if found is None:
            return  # purged later in the same transaction
        self._require_folder(found[0])
        if self.conn.execute(_ANCESTOR_IS_SELF, (ino,)).fetchone() is not None:
            raise InvalidPlacement(f"inode {ino}: a folder cannot be inside itself")

    def _check_names(self) -> None:
        """Refuse the transaction if two live siblings now share a case-folded name.

        One statement for every name the transaction gave (a page gives hundreds).
        """
        if not self._tx.named:
            return
        pairs = json.dumps(sorted(set(self._tx.named)))
        for parent_ino, key, inos in self.conn.execute(_SHARED_NAMES, (pairs,)):
            raise NameTaken(
                f"inodes {inos} would share the name {key!r} in folder inode {parent_ino}"
            )

    def _require_empty(self, ino: int) -> None:
        """A folder the user deletes has no live child left: its purge must never take one."""
        found = self.conn.execute(
            "SELECT 1 FROM items WHERE parent_ino = ? AND state <> 'DELETED_LOCAL' LIMIT 1", (ino,)
        ).fetchone()
        if found is not None:
            raise NotEmpty(f"folder inode {ino} still has live children")

    def _require_folder(self, parent_ino: int | None) -> None:
        """A new or moved item's parent must be a folder (a new item cannot close a cycle)."""
        if parent_ino is None or parent_ino in self._tx.folders:
            return
        found = self.conn.execute("SELECT kind FROM items WHERE ino = ?", (parent_ino,))
        kind = found.fetchone()
        if kind is None:
            raise UnknownItem(f"no parent inode {parent_ino}")
        if kind[0] != "folder":
            raise InvalidPlacement(f"inode {parent_ino} is not a folder")
        self._tx.folders.add(parent_ino)

    def _purge(self, row: Row, event: str, now: float, detail: str | None) -> None:
        """Delete the row and, for a folder, its subtree; the journal keeps every one."""
        conn, tx = self.conn, self._tx
        for ino, item_id, state in list(conn.execute(_SUBTREE, (row["ino"],))):
            tx.journal.append(
                (
                    ino,
                    item_id,
                    "item",
                    state,
                    event,
                    "REMOVED",
                    now,
                    self.worker,
                    f"purged with folder inode {row['ino']}",
                )
            )
            conn.execute("DELETE FROM items WHERE ino = ?", (ino,))
            tx.forget(ino, item_id)
        conn.execute("DELETE FROM items WHERE ino = ?", (row["ino"],))
        tx.forget(row["ino"], row["item_id"])

    # ---- the outbox: a job's outcome and its item's event in one transaction -----------------

    def start_job(self, intent_id: int, snapshot: Snapshot | None = None) -> str:
        """A worker takes a job (``start`` or ``retry_due``); an upload records its snapshot.

        Returns the job's new state. The snapshot is immutable bytes the uploader made: their
        hash is what an echo in delta is recognised by.
        """
        with self.transaction():
            job = self._job_row(intent_id)
            event = "retry_due" if job["job_state"] == "WAITING_RETRY" else "start"
            state = self._fire_job(job, JobReport(event), None)
            if snapshot is not None:
                # A session belongs to the bytes it was opened for: other bytes start afresh,
                # or a resume after a crash would append them to the old version's fragments.
                self.conn.execute(
                    "UPDATE intents SET session_url = CASE WHEN snapshot_seq IS ?1"
                    " AND snapshot_hash IS ?2 AND snapshot_size IS ?3 THEN session_url END,"
                    " session_offset = CASE WHEN snapshot_seq IS ?1 AND snapshot_hash IS ?2"
                    " AND snapshot_size IS ?3 THEN session_offset END,"
                    " snapshot_seq = ?1, snapshot_hash = ?2, snapshot_size = ?3 WHERE id = ?4",
                    (snapshot.seq, snapshot.hash, snapshot.size, intent_id),
                )
            return state

    def job_progress(self, intent_id: int, session_url: str, offset: int) -> None:
        """The server acknowledged a fragment: persist where a resumed session starts."""
        with self.transaction():
            self._fire_job(
                self._job_row(intent_id), JobReport("fragment_sent", session_url, offset), None
            )

    def finish_job(
        self,
        intent_id: int,
        report: JobReport,
        payload: Payload | None,
        *,
        detail: str | None = None,
    ) -> tuple[str, Fired | None]:
        """The job's event and its item's event, committed together (or neither).

        A job that reaches a final state leaves the outbox in this transaction. Raises
        :class:`JobGone` when the intent was cancelled meanwhile (the item was deleted, or a
        conflict superseded the upload): the caller then treats the server's answer as news
        about the item (a delta entry), never as this item's upload.
        """
        with self.transaction():
            job = self._job_row(intent_id)
            state = self._fire_job(job, report, detail)
            fired = self.apply(job["ino"], payload, detail) if payload is not None else None
            return state, fired

    def set_job_state(self, intent_id: int, report: JobReport) -> str:
        """Fire one job event on its own (offline parking, a throttle, a cancellation)."""
        with self.transaction():
            return self._fire_job(self._job_row(intent_id), report, None)

    def _job_row(self, intent_id: int) -> Row:
        found = self.conn.execute(
            f"SELECT {', '.join(_JOB_COLUMNS)} FROM intents WHERE id = ?", (intent_id,)
        ).fetchone()
        if found is None:
            raise JobGone(f"no intent {intent_id}")
        return dict(zip(_JOB_COLUMNS, found, strict=True))

    def _fire_job(self, row: Row, report: JobReport, detail: str | None) -> str:
        job = upload_bindings.JobContext(row, report, self._clock())
        guards = {name: guard(job) for name, guard in upload_bindings.GUARDS.items()}
        transition = self._upload.resolve(row["job_state"], report.event, guards)
        for name in transition.effects:
            upload_bindings.EFFECTS[name](job)
        if transition.target in _TERMINAL_JOBS:
            self.conn.execute("DELETE FROM intents WHERE id = ?", (row["id"],))
        else:
            self.conn.execute(
                "UPDATE intents SET job_state = ?, attempts = ?, next_attempt = ?,"
                " session_url = ?, session_offset = ?, last_error = ? WHERE id = ?",
                (
                    transition.target,
                    row["attempts"],
                    row["next_attempt"],
                    row["session_url"],
                    row["session_offset"],
                    row["last_error"],
                    row["id"],
                ),
            )
        self._tx.journal.append(
            (
                row["ino"],
                f"intent:{row['id']}:{row['kind']}",
                "upload",
                row["job_state"],
                report.event,
                transition.target,
                job.now,
                self.worker,
                detail,
            )
        )
        return transition.target

    def recover_jobs(self) -> int:
        """At start-up: no job is left in flight, none waits forever; returns jobs touched.

        A job that was sending when the process died is restarted (``process_restarted``: its
        session kept for a resume, or back to the queue); a dirty item whose content job is
        missing (written by an older version, or a crash between two of its transactions)
        gets one again. The reference lost uploads exactly here (§9 L-dl-requeue, L13).
        """
        with self.transaction():
            jobs = self.conn.execute(
                f"SELECT {', '.join(_JOB_COLUMNS)} FROM intents WHERE job_state = 'UPLOADING'"
            ).fetchall()
            for found in jobs:
                self._fire_job(
                    dict(zip(_JOB_COLUMNS, found, strict=True)),
                    JobReport("process_restarted"),
                    "start-up",
                )
            orphans = self.conn.execute(
                "SELECT ino, kind FROM items WHERE state = 'DIRTY_LOCAL' AND NOT EXISTS"
                " (SELECT 1 FROM intents WHERE intents.ino = items.ino"
                "  AND intents.kind IN ('upload', 'mkdir'))"
            ).fetchall()
            now = self._clock()
            for ino, kind in orphans:
                self.conn.execute(
                    _ADD_INTENT, (ino, "mkdir" if kind == "folder" else "upload", now, now)
                )
            return len(jobs) + len(orphans)

    # ---- the write hot path -----------------------------------------------------------------

    def note_write(self, ino: int, *, size: int, mtime: float) -> bool:
        """A later write to an item already dirty (or in conflict): size, mtime, no transition.

        The first write is ``local_modified`` (a transition and a journal row); the thousands
        that follow in a large copy only bump ``local_change_seq`` (so an upload that took its
        snapshot earlier sees ``changed_during_upload``) and the attributes getattr shows. A
        waiting upload forgets its session and snapshot, so its next attempt sends these bytes.
        Returns False when the item is in another state: the caller fires ``local_modified``.
        """
        with self.conn:
            self.conn.execute(
                _NOTE_WRITE, (size, mtime, item_bindings.UNHASHED, self._clock(), ino)
            )
            if self.conn.changes() == 0:
                return False
            self.conn.execute(_FORGET_STALE_SESSION, (ino,))
        return True

    # ---- narrow field updates: none of these can touch state ---------------------------------

    def set_pinned(self, ino: int, pinned: bool) -> None:
        self._update_one(ino, "UPDATE items SET pinned = ? WHERE ino = ?", (int(pinned), ino))

    def set_attrs(self, ino: int, *, mtime: float | None = None, mode: int | None = None) -> None:
        """setattr of mtime and mode; a size change is an event (local_modified), not this."""
        self._update_one(
            ino,
            "UPDATE items SET mtime = coalesce(?, mtime), mode = coalesce(?, mode) WHERE ino = ?",
            (mtime, mode, ino),
        )

    def set_overlay_policy(self, ino: int, policy: str | None) -> None:
        self._update_one(ino, "UPDATE items SET overlay_policy = ? WHERE ino = ?", (policy, ino))

    def set_xattr(self, ino: int, name: str, value: bytes) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO xattrs (ino, name, value) VALUES (?, ?, ?)"
                " ON CONFLICT (ino, name) DO UPDATE SET value = excluded.value",
                (ino, name, value),
            )

    def remove_xattr(self, ino: int, name: str) -> bool:
        with self.conn:
            self.conn.execute("DELETE FROM xattrs WHERE ino = ? AND name = ?", (ino, name))
            removed = self.conn.changes() > 0
        return removed

    def set_kv(self, key: str, value: str) -> None:
        """drive_id, root_id, cache_limit_bytes...; the delta cursor goes with its batch."""
        with self.conn:
            self.put_kv(key, value)

    def put_kv(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def prune_journal(self, *, keep_seconds: float = 30 * 86400, keep_rows: int = 200_000) -> int:
        """Drop journal rows older than ``keep_seconds`` or beyond the newest ``keep_rows``.

        The journal is history for ``status`` and for debugging, not state: nothing reads it to
        decide anything. Without a bound it grows by a row per write and per delta change
        forever (docs/store.md gives the retention and its cost).
        """
        cutoff = self._clock() - keep_seconds
        with self.conn:
            self.conn.execute(
                "DELETE FROM journal WHERE at < ? OR seq <= (SELECT max(seq) FROM journal) - ?",
                (cutoff, keep_rows),
            )
            dropped = int(self.conn.changes())
        return dropped

    def _update_one(self, ino: int, sql: str, params: tuple[Any, ...]) -> None:
        with self.conn:
            self.conn.execute(sql, params)
            if self.conn.changes() == 0:
                raise UnknownItem(f"no inode {ino}")

    def upload_snapshot_seq(self, ino: int) -> int:
        """The local_change_seq an uploader records with its snapshot (changed_during_upload)."""
        found = self.conn.execute(
            "SELECT local_change_seq FROM items WHERE ino = ?", (ino,)
        ).fetchone()
        if found is None:
            raise UnknownItem(f"no inode {ino}")
        return int(found[0])
