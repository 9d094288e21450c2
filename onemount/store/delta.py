"""Applying a delta page exactly as Graph sends it, without ever refusing the page.

Graph's delta feed gives each item's latest state in no particular order (graph-api.md §2.2):
an item may appear twice (the last occurrence wins), ancestors are repeated, a child may come
before its parent, a delete may name an id we never had, and two items may swap names within
one page. The reference implementation skipped children whose parent came later and moved its
cursor anyway (§9 L8); a UNIQUE constraint or an unknown parent refusing the whole page would
instead retry the same page forever. Here:

* entries are applied parent first (an entry whose parent is later in the page waits for it),
  live entries before deletes (a folder's children may be moved out of it before it goes), and
  an entry whose name is still held by an item that moves or goes later in the page waits for
  that one; two entries that wait for each other (a swap) are applied together, and the name
  check at commit proves the end state;
* an entry that arrives on the name of a *local* item (created here, or renamed here and not
  sent yet) goes through the spec's ``name_collided`` on that item: our own create echoed is
  adopted (same kind and content), anything else moves the local item aside under a conflict
  name and the arrival takes its name. Nothing is overwritten. A folder we know that arrives
  so on a new folder of ours is one with it: the server's children come under ours (the
  manager's ``_absorb_echo``), never purged. An item renamed here, deleted, and brought back
  by a remote edit keeps its pending name, and gives way (moved aside) if an item took that
  name meanwhile;
* an entry that cannot be applied yet (its parent has not arrived, its name is held by an item
  the page does not move, a name Linux cannot show) is **held** in ``delta_held`` with its
  reason, logged, and retried with every later page; everything else of the page commits with
  the cursor, in one transaction. Each entry runs in a savepoint, so one that fails for any
  other reason is held too and costs only itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Container, Sequence
from dataclasses import asdict, dataclass, field

import apsw

from onemount.statemachine import InvalidTransition
from onemount.store.events import (
    NameCollided,
    RemoteAppeared,
    RemoteChanged,
    RemoteDeleted,
    RemoteDeletion,
    RemoteState,
)
from onemount.store.item_bindings import Row
from onemount.store.manager import (
    Fired,
    InvalidPlacement,
    NameTaken,
    StateManager,
    UnknownItem,
    moving_locally,
    placed_locally,
)
from onemount.store.names import InvalidName, name_key, remote_name

log = logging.getLogger(__name__)

Entry = RemoteState | RemoteDeletion

# What applying one entry may raise without being a bug: the entry is held, the page goes on.
_ENTRY_ERRORS = (InvalidTransition, InvalidName, InvalidPlacement, UnknownItem, NameTaken)


@dataclass(frozen=True)
class HeldEntry:
    id: str
    reason: str


@dataclass
class IngestReport:
    """What a page did: every transition fired, entries held (new or still), and counts."""

    fired: list[Fired] = field(default_factory=list)
    held: list[HeldEntry] = field(default_factory=list)
    released: int = 0  # entries held by an earlier page and applied by this one
    ignored: int = 0  # deletes of ids we never had (or that went with their folder)
    collisions: int = 0  # local items moved aside or adopted as our own create's echo


def ingest(
    manager: StateManager,
    entries: Sequence[Entry],
    *,
    cursor: str | None,
    writers: Container[int],
) -> IngestReport:
    """Apply one delta page and store ``cursor`` with it, in one transaction.

    ``writers`` holds the inodes a process has open for writing, read by the caller under the
    writer lock: a remote change to such a file waits for its release (spec: has_writers).
    """
    with manager.transaction():
        report = _Page(manager, writers).run(entries)
        report.fired.extend(manager.nested_fired())
        if cursor is not None:
            manager.put_kv("delta_cursor", cursor)
        return report


def held_entries(conn: apsw.Connection) -> list[tuple[str, str, float, int]]:
    """``(id, reason, since, attempts)`` of every held delta entry, oldest first."""
    return [
        (str(i), str(r), float(s), int(a))
        for i, r, s, a in conn.execute(
            "SELECT item_id, reason, since, attempts FROM delta_held ORDER BY since, item_id"
        )
    ]


_RELEASABLE = """
WITH RECURSIVE tried(id) AS (
    SELECT value FROM json_each(?1)
    UNION ALL SELECT item_id FROM delta_held WHERE waits_on IS NULL
    UNION SELECT held.item_id FROM delta_held AS held JOIN tried ON held.waits_on = tried.id
)
SELECT item_id, entry FROM delta_held WHERE waits_on IS NULL OR item_id IN (SELECT id FROM tried)
"""


class _Blocked(Exception):
    """The entry cannot be applied now; ``reason`` says why (it is held).

    ``waits_on`` is the remote id of the parent it waits for, when that is the reason: only a
    page bringing that id (or releasing an entry with it) tries the entry again.
    """

    def __init__(self, reason: str, waits_on: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.waits_on = waits_on


class _Retry(Exception):
    """The optimistic pass met an entry that failed: redo the page, entry by entry."""


class _Page:
    """One page's application.

    The first pass is optimistic: the whole page in one savepoint, no savepoint per entry
    (two statements each, a third of a plain entry's cost). An entry that is held raises
    before it writes anything, so the pass goes on; any other failure may come after a write
    (a collision's move aside, then a refusal), so the pass is rolled back and the page is
    applied again with a savepoint per entry, where a failure costs only its entry.
    """

    def __init__(self, manager: StateManager, writers: Container[int]) -> None:
        self.m = manager
        self.writers = writers
        self.previously_held: set[str] = set()
        self.careful = False
        self._reset()

    def _reset(self) -> None:
        self.cycles: list[Entry] = []
        #: The occupant of an entry's name as its dependencies found it: (entry id, inode).
        self.occupant: tuple[str, int | None] | None = None
        self.report = IngestReport()
        self.entries: dict[str, Entry] = {}
        self.done: set[str] = set()
        self.stack: set[str] = set()

    def run(self, page: Sequence[Entry]) -> IngestReport:
        last: dict[str, Entry] = {}
        for entry in page:  # the last occurrence wins, at its own position
            last.pop(entry.id, None)
            last[entry.id] = entry
        held = self._load_held(last)
        live = [e for e in (*last.values(), *held) if isinstance(e, RemoteState)]
        gone = [e for e in (*last.values(), *held) if isinstance(e, RemoteDeletion)]
        ordered: list[Entry] = [*live, *gone]
        ids = {e.id for e in ordered} | {e.parent_id for e in live if e.parent_id is not None}
        try:
            with self.m.savepoint():
                self._pass(ordered, ids)
        except _Retry:
            self._reset()
            self.careful = True
            self._pass(ordered, ids)
        return self.report

    def _pass(self, ordered: list[Entry], ids: set[str]) -> None:
        self.entries = {e.id: e for e in ordered}
        self.m.prefetch_refs(ids, set())
        for entry in ordered:
            self._visit(entry)
        retry, self.cycles = self.cycles, []
        for entry in retry:  # a cycle the rest of the page undid: apply it now
            self.done.discard(entry.id)
            self.report.held = [h for h in self.report.held if h.id != entry.id]
            self._visit(entry)

    def _load_held(self, superseding: dict[str, Entry]) -> list[Entry]:
        """Entries held by earlier pages that this page may release, but for ids it brings anew.

        An entry waiting for its parent is tried again only when the page brings that parent,
        or an entry waiting for it is tried again itself (a chain of folders listed after
        their children); one held for another reason is tried with every page.
        """
        conn = self.m.conn
        found: list[Entry] = []
        brought = json.dumps([e.id for e in superseding.values() if isinstance(e, RemoteState)])
        for item_id, text in conn.execute(_RELEASABLE, (brought,)).fetchall():
            if item_id in superseding:
                continue
            data = json.loads(str(text))
            kept: Entry = RemoteDeletion(**data) if set(data) == {"id"} else RemoteState(**data)
            found.append(kept)
            self.previously_held.add(str(item_id))
        conn.execute(
            "DELETE FROM delta_held WHERE item_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(superseding)),),
        )
        return found

    def _visit(self, entry: Entry) -> None:
        """Apply ``entry`` (after what it depends on), or hold it with the reason."""
        if entry.id in self.done or entry.id in self.stack:
            return
        self.stack.add(entry.id)
        try:
            if isinstance(entry, RemoteState):
                # What it depends on goes first, each in its own savepoint: a failure of this
                # entry must not roll back a parent that others wait for.
                self._visit_dependencies(entry)
            if self.careful:
                with self.m.savepoint():
                    self._apply(entry)
            else:
                self._apply(entry)
        except _Blocked as blocked:
            self._hold(entry, blocked.reason, blocked.waits_on)
        except _ENTRY_ERRORS as exc:
            if not self.careful:
                raise _Retry from exc
            if isinstance(exc, InvalidPlacement) and self.m.peek(entry.id) is not None:
                self.cycles.append(entry)  # a move: tried again once the rest of the page is in
            self._hold(entry, f"{type(exc).__name__}: {exc}", None)
        else:
            if entry.id in self.previously_held:
                self.m.conn.execute("DELETE FROM delta_held WHERE item_id = ?", (entry.id,))
                self.report.released += 1
        finally:
            self.stack.discard(entry.id)
            self.done.add(entry.id)

    def _apply(self, entry: Entry) -> None:
        if isinstance(entry, RemoteDeletion):
            self._delete(entry)
            return
        parent = self._parent_of(entry)
        try:
            remote_name(entry.name)
        except InvalidName as exc:
            raise _Blocked(f"its name cannot be shown on Linux: {exc.reason}") from exc
        row = self.m.peek(entry.id)
        writers = row is not None and row["ino"] in self.writers
        change = None if row is None else RemoteChanged(remote=entry, writers=writers)
        stays_tombstone = (
            change is not None
            and row is not None
            and row["state"] == "DELETED_LOCAL"
            and self.m.target_of(entry.id, change) == "DELETED_LOCAL"
        )
        if parent is not None and not stays_tombstone and not (row and moving_locally(row)):
            self._clear_the_way(entry, parent, row)
        if row is None and (found := self.m.peek(entry.id)) is not None:
            row = found  # adopted by the local item it collided with
            if row["remote_id"] == entry.id:
                return
        payload = (
            RemoteAppeared(remote=entry)
            if row is None
            else RemoteChanged(remote=entry, writers=writers)
        )
        fired = self.m.apply(entry.id, payload, None)
        if row is not None and row["kind"] == "folder" and fired.parent_after != row["parent_ino"]:
            # A folder moved under its own subtree is a cycle until a later move (of this page
            # or the next) takes the other folder out: check now and wait for it, rather than
            # refusing the whole page at commit.
            self.m.check_placement(fired.ino)
        self.report.fired.append(fired)
        if row is not None and row["state"] == "DELETED_LOCAL" and moving_locally(row):
            self._come_back_aside(entry, fired)

    def _come_back_aside(self, entry: RemoteState, fired: Fired) -> None:
        """A tombstone renamed here that the entry brought back: its name here may be taken.

        It keeps the placement of its pending move (the rename the server has not seen), where
        the user may have made a new item since, or an arrival of this page may sit. The one
        that comes back gives way, through ``name_collided`` (moved aside, the move queued):
        the user's new item keeps its name, and the arrival the server's.
        """
        if fired.parent_after is None or fired.target in ("DELETED_LOCAL", "REMOVED"):
            return
        back = self.m.peek(fired.ino)
        assert back is not None
        occupant = self.m.live_at(fired.parent_after, back["name_key"], besides=fired.ino)
        if occupant is None:
            return
        self.report.collisions += 1
        detail = f"it came back on a name inode {occupant} took meanwhile"
        self.report.fired.append(self.m.apply(fired.ino, NameCollided(arrival=entry), detail))

    def _visit_dependencies(self, entry: RemoteState) -> None:
        """The parent, then an item of this page that still holds the entry's name."""
        if entry.parent_id is not None and self.m.ino_of(entry.parent_id) is None:
            parent = self.entries.get(entry.parent_id)
            if isinstance(parent, RemoteState):
                self._visit(parent)
        parent_ino = None if entry.parent_id is None else self.m.ino_of(entry.parent_id)
        if parent_ino is None:
            return
        row = self.m.peek(entry.id)
        besides = None if row is None else row["ino"]
        occupant = self.m.live_at(parent_ino, name_key(entry.name), besides=besides)
        self.occupant = (entry.id, occupant)  # still true when no dependency runs in between
        held_by = None if occupant is None else self.m.peek(occupant)
        if held_by is not None and not placed_locally(held_by):
            other = self.entries.get(held_by["item_id"])
            if other is not None:
                self.occupant = None
                self._visit(other)

    def _parent_of(self, entry: RemoteState) -> int | None:
        if entry.parent_id is None:
            return None
        ino = self.m.ino_of(entry.parent_id)
        if ino is None:
            raise _Blocked(f"its parent {entry.parent_id} has not arrived", entry.parent_id)
        return ino

    def _clear_the_way(self, entry: RemoteState, parent: int, row: Row | None) -> None:
        """Settle whoever holds the arrival's name before the arrival takes it."""
        if self.occupant is not None and self.occupant[0] == entry.id:
            occupant = self.occupant[1]
        else:
            besides = None if row is None else row["ino"]
            occupant = self.m.live_at(parent, name_key(entry.name), besides=besides)
        if occupant is None:
            return
        held_by = self.m.peek(occupant)
        assert held_by is not None
        if placed_locally(held_by):
            self.report.collisions += 1
            self.report.fired.append(
                self.m.apply(occupant, NameCollided(arrival=entry), "a remote item took its name")
            )
            return
        if held_by["item_id"] in self.stack:
            return  # a swap: both are applied, the commit proves no name is shared
        raise _Blocked(f"its name is held by {held_by['item_id']} (inode {occupant})")

    def _delete(self, entry: RemoteDeletion) -> None:
        row = self.m.peek(entry.id)
        if row is None:
            self.report.ignored += 1
            return
        payload = RemoteDeleted(writers=row["ino"] in self.writers)
        self.report.fired.append(self.m.apply(entry.id, payload, None))

    def _hold(self, entry: Entry, reason: str, waits_on: str | None) -> None:
        conn = self.m.conn
        first = entry.id not in self.previously_held
        conn.execute(
            "INSERT INTO delta_held (item_id, entry, reason, since, waits_on)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (item_id) DO UPDATE SET entry = excluded.entry,"
            " reason = excluded.reason, waits_on = excluded.waits_on, attempts = attempts + 1",
            (entry.id, json.dumps(asdict(entry)), reason, self.m.now(), waits_on),
        )
        self.report.held.append(HeldEntry(entry.id, reason))
        # A child listed before its folder is Graph's routine order (a first enumeration may
        # hold thousands): only a hold for another reason deserves a warning.
        routine = waits_on is not None or not first
        (log.debug if routine else log.warning)("delta entry %s held: %s", entry.id, reason)
