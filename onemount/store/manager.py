"""StateManager: the only code that creates, changes the state of, or purges an item row.

``fire`` loads the row, evaluates the guards the spec names, asks the compiled table for the
target, applies the declared effects, writes the row, queues or clears intents and appends the
journal, all in one transaction; a refused event raises ``InvalidTransition`` and changes
nothing. A trigger in the schema refuses every other write of ``state``: fire opens the door by
putting a row in ``fire_token`` for the length of its transaction, and closes it before commit.

One StateManager owns the single writer connection. apsw connections may move between threads
but must not be used concurrently: the engine calls ``fire_batch`` from one worker thread
(``trio.to_thread`` behind a ``CapacityLimiter(1)``); FUSE lookups use read-only connections.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import apsw

from onemount.statemachine import InvalidTransition, compiled
from onemount.store import item_bindings, upload_bindings
from onemount.store.db import open_writer
from onemount.store.item_bindings import EffectContext, GuardContext, Row, new_local_id
from onemount.store.names import name_key, validated
from onemount.store.schema import ITEM_COLUMNS, ROOT_INODE, SELECT_ITEMS, as_row

__all__ = ["Event", "Fired", "InvalidPlacement", "InvalidTransition", "StateManager", "UnknownItem"]

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
    ("virtual", "pinned", "has_local_changes", "local_change_seq"), 0
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
_TERMINAL_JOBS = "('COMPLETED', 'CONFLICTED', 'FAILED', 'CANCELLED')"
_ADD_INTENT = (
    "INSERT INTO intents (ino, kind, created, next_attempt) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (ino, kind) DO UPDATE SET job_state = 'QUEUED', attempts = 0,"
    " next_attempt = excluded.next_attempt, session_url = NULL, session_offset = NULL,"
    f" last_error = NULL WHERE job_state IN {_TERMINAL_JOBS}"
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


class UnknownItem(KeyError):
    """The item (or the parent named in the context) has no row."""


class InvalidPlacement(ValueError):
    """An item would sit under a file, or a folder inside its own subtree."""


@dataclass(frozen=True)
class Event:
    """One event of a batch: ``item`` is an inode, an item id, or ``None`` for a new item."""

    item: ItemRef
    event: str
    context: Mapping[str, Any] = field(default_factory=dict)
    detail: str | None = None


@dataclass(frozen=True)
class Fired:
    """What a fire did: the item's inode and id after it, and the transition taken."""

    ino: int
    item_id: str
    source: str
    event: str
    target: str


@dataclass
class _Scratch:
    """What one fire transaction knows besides the database; dropped when it ends.

    Every entry is exact, not a guess: a prefetched row leaves ``rows`` when its own event
    loads it (that event rewrites or purges it) or when a purge takes it, and ``inos`` and
    ``folders`` follow every insert, change of id and purge. So a batch reads what the
    database holds at that point of the transaction, only without a query per event.
    """

    placed: list[int] = field(default_factory=list)  # items moved: checked before commit
    folders: set[int] = field(default_factory=set)  # inodes known to be folders
    journal: list[tuple[Any, ...]] = field(default_factory=list)  # written in order at commit
    rows: dict[int | str, Row] = field(default_factory=dict)  # prefetched, by inode and by id
    absent: set[str] = field(default_factory=set)  # ids the prefetch found no row for
    inos: dict[str, int] = field(default_factory=dict)  # item id -> inode

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


class StateManager:
    """The writer of metadata_v2. Build it with :meth:`open` (which migrates) or on a connection."""

    def __init__(
        self,
        conn: apsw.Connection,
        *,
        worker: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn = conn
        self.worker = worker
        self._clock = clock
        self._tx = _Scratch()  # the open fire transaction's; replaced at each BEGIN
        self._item = compiled("item")
        self._upload = compiled("upload")

    @classmethod
    def open(cls, path: str | Path, *, worker: str | None = None) -> StateManager:
        return cls(open_writer(path), worker=worker)

    def close(self) -> None:
        self.conn.close()

    # ---- transitions -------------------------------------------------------------------------

    def fire(
        self, item: ItemRef, event: str, *, detail: str | None = None, **context: Any
    ) -> Fired:
        """Apply one event in its own transaction; :class:`InvalidTransition` changes nothing."""
        with self._fire_transaction():
            return self._apply(item, event, context, detail)

    def fire_batch(
        self, events: Iterable[Event], *, delta_cursor: str | None = None
    ) -> list[Fired]:
        """Apply many events (a delta page) in one transaction, all or none.

        ``delta_cursor`` is stored in the same transaction, so after a crash the cursor never
        points past items that were not written.
        """
        with self._fire_transaction():
            events = list(events)  # a generator that fails part-way still rolls back
            self._prefetch(events)
            fired = [self._apply(e.item, e.event, e.context, e.detail) for e in events]
            if delta_cursor is not None:
                self._put_kv("delta_cursor", delta_cursor)
            return fired

    def fire_upload(
        self, intent_id: int, event: str, *, detail: str | None = None, **context: Any
    ) -> str:
        """Move an upload/mkdir intent's job through spec/upload.yaml; returns the new state."""
        with self._fire_transaction():
            found = self.conn.execute(
                f"SELECT {', '.join(_JOB_COLUMNS)} FROM intents WHERE id = ?", (intent_id,)
            ).fetchone()
            if found is None:
                raise UnknownItem(f"no intent {intent_id}")
            row = dict(zip(_JOB_COLUMNS, found, strict=True))
            job = upload_bindings.JobContext(row, context, self._clock())
            guards = {name: guard(job) for name, guard in upload_bindings.GUARDS.items()}
            transition = self._upload.resolve(row["job_state"], event, guards)
            for name in transition.effects:
                upload_bindings.EFFECTS[name](job)
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
                    intent_id,
                ),
            )
            self._tx.journal.append(
                (
                    row["ino"],
                    f"intent:{intent_id}",
                    "upload",
                    row["job_state"],
                    event,
                    transition.target,
                    job.now,
                    self.worker,
                    detail,
                )
            )
            return transition.target

    @contextmanager
    def _fire_transaction(self) -> Iterator[None]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE; INSERT INTO fire_token VALUES (1)")
        self._tx = _Scratch()
        try:
            yield
            # One executemany in event order: seq numbers follow the transitions as before,
            # and the rows commit (or roll back) with the items they describe.
            conn.executemany(_JOURNAL, self._tx.journal)
            self._check_placements()
            conn.execute("DELETE FROM fire_token")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _prefetch(self, events: list[Event]) -> None:
        """Load every row a batch names, as its item or a parent, in one query per kind of ref.

        A delta page otherwise pays two lookups per event (the row, the parent's inode) on top
        of its writes.
        """
        ids: set[str] = set()
        inos: set[int] = set()
        for e in events:
            for ref in (e.item, e.context.get("parent")):
                if isinstance(ref, str):
                    ids.add(ref)
                elif isinstance(ref, int):
                    inos.add(ref)
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

    def _load(self, item: ItemRef) -> Row | None:
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

    def _ino_of(self, ref: int | str) -> int:
        if isinstance(ref, int):
            return ref
        ino = self._tx.inos.get(ref)
        if ino is not None:
            return ino
        found = self.conn.execute("SELECT ino FROM items WHERE item_id = ?", (ref,)).fetchone()
        if found is None:
            raise UnknownItem(f"no item {ref!r}")
        self._tx.inos[ref] = ino = int(found[0])
        return ino

    def _apply(
        self, item: ItemRef, event: str, context: Mapping[str, Any], detail: str | None
    ) -> Fired:
        if "parent" in context:
            context = {**context, "parent_ino": self._ino_of(context["parent"])}
        row = self._load(item)
        if row is None and isinstance(item, int) and item != ROOT_INODE:
            raise UnknownItem(f"no inode {item}")
        source = "ABSENT" if row is None else row["state"]
        guards = _LazyGuards(GuardContext(self.conn, row, context))
        transition = self._item.resolve(source, event, guards)
        now = self._clock()
        tx = self._tx
        creating = row is None
        if row is None:
            row = self._new_row(item, context, now)
            self._require_folder(row["parent_ino"])
        old_id = row["item_id"]
        effects = EffectContext(row, context, now, self.worker)
        for name in transition.effects:
            item_bindings.EFFECTS[name](effects)
        row["state"] = transition.target
        row["updated"] = now
        if creating:
            self.conn.execute(_INSERT, _INSERT_VALUES(row))
            row["ino"] = self.conn.last_insert_rowid()
        elif not effects.purge:
            self.conn.execute(_UPDATE, _UPDATE_VALUES(row))
        if effects.moved:
            tx.placed.append(row["ino"])
        self._apply_intents(row, effects.intents, now)
        if row["item_id"] != old_id:  # a local id exchanged for the server's, or back
            tx.inos.pop(old_id, None)
        if effects.purge:
            self._purge(row, event, now, detail)
        else:
            tx.inos[row["item_id"]] = row["ino"]
            tx.absent.discard(row["item_id"])
        tx.journal.append(
            (
                row["ino"],
                row["item_id"],
                "item",
                source,
                event,
                transition.target,
                now,
                self.worker,
                detail,
            )
        )
        for copy in effects.spawn:
            self._apply(None, "local_created", copy, f"conflict copy of inode {row['ino']}")
        return Fired(row["ino"], row["item_id"], source, event, transition.target)

    def _new_row(self, item: ItemRef, context: Mapping[str, Any], now: float) -> Row:
        row = _NEW_ROW.copy()
        if context.get("root"):
            row["ino"] = ROOT_INODE
            row["name"] = validated(context.get("name", "root"))
        else:
            if "parent_ino" not in context:
                raise ValueError("a new item needs a parent")
            row["parent_ino"] = context["parent_ino"]
            row["name"] = validated(context.get("name", ""))
        local = not isinstance(item, str)
        row["item_id"] = new_local_id() if local else item
        row["name_key"] = name_key(row["name"])
        row["kind"] = context.get("kind", "file")
        row["size"] = context.get("size", 0)
        row["mtime"] = context.get("mtime", now)
        row["mode"] = context.get("mode")
        row["pending_remote"] = int(local)
        row["created"] = now
        return row

    def _apply_intents(self, row: Row, operations: list[tuple[str, str]], now: float) -> None:
        """Run the outbox operations the effects queued, coalesced per item."""
        conn, ino = self.conn, row["ino"]
        for operation, kind in operations:
            if operation == "drop":
                if kind == "*":
                    conn.execute("DELETE FROM intents WHERE ino = ?", (ino,))
                else:
                    conn.execute("DELETE FROM intents WHERE ino = ? AND kind = ?", (ino, kind))
                continue
            if kind == "move" and self._move_is_folded(ino, row["remote_id"] is None):
                continue
            if kind == "delete":
                conn.execute("DELETE FROM intents WHERE ino = ? AND kind = 'move'", (ino,))
            conn.execute(_ADD_INTENT, (ino, kind, now, now))

    def _check_placements(self) -> None:
        """Refuse the transaction if it moved an item under a file or a folder under itself.

        Checked once before commit, not per event: a delta page may move A under B before it
        moves B out from under A, a cycle that exists only halfway through the page.
        """
        for ino in self._tx.placed:
            parent = self.conn.execute("SELECT parent_ino FROM items WHERE ino = ?", (ino,))
            found = parent.fetchone()
            if found is None:
                continue  # purged later in the same transaction
            self._require_folder(found[0])
            if self.conn.execute(_ANCESTOR_IS_SELF, (ino,)).fetchone() is not None:
                raise InvalidPlacement(f"inode {ino}: a folder cannot be inside itself")

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

    def _move_is_folded(self, ino: int, never_uploaded: bool) -> bool:
        """A pending delete wins over a move; a first upload or mkdir carries the new name."""
        pending = {
            k for (k,) in self.conn.execute("SELECT kind FROM intents WHERE ino = ?", (ino,))
        }
        return "delete" in pending or (never_uploaded and bool(pending & {"upload", "mkdir"}))

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
            self._put_kv(key, value)

    def _put_kv(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _update_one(self, ino: int, sql: str, params: tuple[Any, ...]) -> None:
        with self.conn:
            self.conn.execute(sql, params)
            if self.conn.changes() == 0:
                raise UnknownItem(f"no inode {ino}")

    def upload_snapshot(self, ino: int) -> int:
        """The local_change_seq an uploader records with its snapshot (changed_during_upload)."""
        found = self.conn.execute(
            "SELECT local_change_seq FROM items WHERE ino = ?", (ino,)
        ).fetchone()
        if found is None:
            raise UnknownItem(f"no inode {ino}")
        return int(found[0])
