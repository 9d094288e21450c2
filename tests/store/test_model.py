"""Hypothesis stateful test: the store against a plain Python model of its rows and the server.

The model (tests/store/model_world.py) keeps its own items and a server of its own, and learns
from the spec only what a reader of it would. Names come from a small pool of case and
Unicode variants ("notes.txt", "Notes.TXT", "Caf\u00e9", "Cafe\u0301"...), so collisions are the
rule: local creates and renames onto taken names (NameTaken, nothing changes), remote items
arriving on a local item's name (our own create's echo is adopted, anything else moves the
local item aside under a conflict name), remote changes, moves and deletes delivered through
``delta.ingest`` in pages cut from the server's change log the way Graph cuts them (each id at
its latest change, children before parents across pages, stale duplicates, repeated ancestors,
deletes of ids never seen, pages repeated from an older cursor), jobs started and finished
through the outbox with the server changing in between, and close-and-reopen with recovery.

After every step the store and the model agree on every item's state, placement (name,
parent, the server's placement), ids, hashes (cached, remote, kept), size, mtime and intents
(with their job state and snapshot); on the held delta entries, the cursor, the journal (which
events each inode went through) and the jobs ``ready_jobs`` offers; every row satisfies its
state's invariants, no live names collide, no intent is orphaned (tests/store/soundness.py);
and at the end of a run ``validate`` finds nothing. A failure prints the steps and, under the
``ci`` profile, the blob that replays them.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import apsw
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from onemount.statemachine import InvalidTransition
from onemount.store import (
    ROOT_INODE,
    InvalidPlacement,
    JobGone,
    JobReport,
    NameTaken,
    Snapshot,
    StateManager,
    UnknownItem,
    delta,
)
from onemount.store.db import open_writer
from onemount.store.events import (
    DeleteConfirmed,
    Evict,
    HydrateCancelled,
    HydrateFailed,
    HydrateRequested,
    HydrateSucceeded,
    Kind,
    LocalCreated,
    LocalDeleted,
    LocalModified,
    LocalOverwritten,
    LocalRenamed,
    LocalTimesChanged,
    MoveSucceeded,
    Payload,
    RemoteAppeared,
    RemoteDeletion,
    RemoteState,
    ResolveKeepBoth,
    ResolveKeepLocal,
    ResolveKeepRemote,
    RetryRequested,
    UploadFailed,
    UploadSucceeded,
    WritersClosed,
)
from onemount.store.item_bindings import UNHASHED
from onemount.store.outbox import ready_jobs
from onemount.store.schema import SELECT_ITEMS, as_row
from onemount.store.validate import validate
from tests.store.builders import ROOT_ID, failure, root_state
from tests.store.model_world import MACHINE, NOW, Entry, Item, Server, World, key
from tests.store.soundness import unsound

# Case variants and both Unicode normal forms of a few names: collisions are the common case.
POOL = (
    "notes.txt",
    "Notes.TXT",
    "NOTES.txt",
    "Caf\u00e9",
    "Cafe\u0301",
    "CAF\u00c9",
    "a",
    "A",
    "b.md",
    "draft",
)
HASHES = ("h1", "h2", "h3")
KINDS: tuple[Kind, ...] = ("file", "file", "folder")
EXPECTED = (InvalidTransition, NameTaken, InvalidPlacement, UnknownItem, JobGone)
T = TypeVar("T")


@dataclass(frozen=True)
class Flight:
    """A job a worker took: what it sent and what the server answered (delivered at finish)."""

    ino: int
    kind: str
    intent: int
    gen: int
    reply: RemoteState | None
    seq: int
    sent_mtime: float | None  # the mtime the create or move gave the server


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "metadata_v2.db"
        self.store = self._open()
        root = RemoteAppeared(remote=root_state())
        self.store.fire(None, root)
        self.world = World()
        self.world.fire(None, root)
        self.server = Server.with_root(root_state())
        self.writers: set[int] = set()
        self.flights: list[Flight] = []
        self.journal_seq = 1
        self.unknown = itertools.count()

    def _open(self) -> StateManager:
        return StateManager(open_writer(self.path), clock=lambda: NOW)

    def teardown(self) -> None:
        try:
            assert validate(self.store.conn) == []  # chains, schema, integrity: once a run
        finally:
            self.store.close()
            self.tmp.cleanup()

    # ---- running one operation on both -------------------------------------------------------

    def _both(self, on_model: Callable[[World], T], on_store: Callable[[], Any]) -> T | None:
        """Run an operation on a copy of the model and on the store; they fail alike or the
        copy becomes the model. A failed operation must leave the store as it was (the
        invariant compares it with the unchanged model)."""
        expected = copy.deepcopy(self.world)
        try:
            result = on_model(expected)
            expected.check_tree()
        except EXPECTED as refused:
            event(f"refused: {type(refused).__name__}")
            with pytest.raises(type(refused)):
                on_store()
            return None
        got = on_store()
        self.world = expected
        if result is not None:
            assert got == result, f"store answered {got!r}, the model {result!r}"
        return result

    def _local(self, ino: int | None, payload: Payload, content: str | None = None) -> None:
        """A local event; ``content`` is what the item's bytes hash to afterwards."""

        def on_model(world: World) -> int:
            fired = world.fire(ino, payload)
            if content is not None:
                world.items[fired].content = content
            return fired

        self._both(on_model, lambda: self.store.fire(ino, payload).ino)

    def _visible(self, folders: bool | None = None) -> list[int]:
        """Inodes the mount shows (the root first), optionally only folders or only files."""
        return [
            ino
            for ino, i in sorted(self.world.items.items())
            if self.world.visible(ino) and (folders is None or i.folder == folders)
        ]

    def _draw(self, data: st.DataObject, inos: list[int]) -> Item:
        return self.world.items[data.draw(st.sampled_from(inos))]

    def _items(self) -> list[int]:
        return self._visible()[1:]

    def _files(self) -> list[int]:
        return self._visible(folders=False)

    def _empty(self) -> list[int]:
        return [i for i in self._items() if not any(c.live for c in self.world.children(i))]

    def _placed_locally(self) -> list[int]:
        """Items whose name the server does not have yet, in a folder the server has."""
        items = self.world.items
        return [
            i
            for i in self._items()
            if items[i].placed_locally()
            and items[items[i].parent or ROOT_INODE].remote_id in self.server.items
        ]

    def _remote(self, *, files: bool = False) -> list[str]:
        return sorted(
            i
            for i, s in self.server.items.items()
            if s.parent is not None and (not files or s.kind == "file")
        )

    # ---- local events ------------------------------------------------------------------------

    @rule(
        data=st.data(),
        name=st.sampled_from(POOL),
        kind=st.sampled_from(KINDS),
        size=st.integers(0, 3),
        content=st.sampled_from(HASHES),
    )
    def create_local(
        self, data: st.DataObject, name: str, kind: Kind, size: int, content: str
    ) -> None:
        parent = data.draw(st.sampled_from(self._visible(folders=True)))
        payload = LocalCreated(
            parent=parent,
            name=name,
            kind=kind,
            size=size,
            mtime=2.0,
            mode=None,
        )
        self._local(None, payload, None if kind == "folder" else content)

    @precondition(lambda self: self._items())
    @rule(data=st.data(), name=st.sampled_from(POOL))
    def rename_local(self, data: st.DataObject, name: str) -> None:
        item = self._draw(data, self._items())
        parent = data.draw(st.sampled_from(self._visible(folders=True)))
        self._local(item.ino, LocalRenamed(parent=parent, name=name))

    @precondition(lambda self: self._items())
    @rule(data=st.data(), mtime=st.sampled_from([7.0, 8.5]))
    def touch_local(self, data: st.DataObject, mtime: float) -> None:
        """utime: ``touch -d``, ``cp -p``, ``rsync -t``."""
        self._local(self._draw(data, self._items()).ino, LocalTimesChanged(mtime=mtime))

    @precondition(lambda self: self._files())
    @rule(
        data=st.data(),
        how=st.sampled_from(["modified", "overwritten", "note_write"]),
        size=st.integers(0, 3),
        hashed=st.booleans(),
        content=st.sampled_from(HASHES),
    )
    def write_local(
        self, data: st.DataObject, how: str, size: int, hashed: bool, content: str
    ) -> None:
        item = self._draw(data, self._files())
        if how == "note_write":
            self._note_write(item.ino, size, content)
            return
        kind = LocalModified if how == "modified" else LocalOverwritten
        payload = kind(size=size, mtime=3.0, cached_hash=content if hashed else None)
        self._local(item.ino, payload, content)

    def _note_write(self, ino: int, size: int, content: str) -> None:
        """The hot path: a write to an item already dirty bumps its sequence, no transition."""

        def on_model(world: World) -> bool:
            item = world.items[ino]
            if item.state not in ("DIRTY_LOCAL", "CONFLICT"):
                return False
            item.size, item.mtime, item.seq = size, 3.0, item.seq + 1
            item.cached, item.content = UNHASHED, content
            job = item.jobs.get("upload")
            if job is not None and job.state != "UPLOADING":
                job.snapshot_seq = job.snapshot_hash = None  # its next attempt sends these bytes
            return True

        self._both(on_model, lambda: self.store.note_write(ino, size=size, mtime=3.0))

    # Deletes wait for a few items: Hypothesis favours the rules it sorts first (fewest
    # arguments, then by name), and an emptied tree has nothing left to collide.
    @precondition(lambda self: len(self._items()) > 3 and self._empty())
    @rule(data=st.data())
    def delete_local(self, data: st.DataObject) -> None:
        """unlink, or rmdir of an empty folder (the FUSE layer answers ENOTEMPTY otherwise)."""
        self._local(self._draw(data, self._empty()).ino, LocalDeleted())

    @precondition(lambda self: self._items())
    @rule(data=st.data(), what=st.sampled_from(["event", "event", "pin", "writer"]))
    def other_local_event(self, data: st.DataObject, what: str) -> None:
        """Hydration, eviction, conflict resolution, retry, release: whatever the state takes;
        or a pin changed, or a file opened or closed for writing (what the FUSE layer tells)."""
        item = self._draw(data, self._items())
        if what == "pin":
            item.pinned = not item.pinned
            self.store.set_pinned(item.ino, item.pinned)
            return
        if what == "writer":
            if item.ino in self.writers or (not item.folder and item.cached is not None):
                self.writers ^= {item.ino}  # only a file whose bytes are here can be opened
            return
        writing = item.ino in self.writers
        downloaded = data.draw(st.sampled_from([item.remote_hash or "h1", *HASHES]))
        offered: list[Payload] = [
            HydrateRequested(),
            HydrateSucceeded(cached_hash=downloaded),
            HydrateFailed(failure=failure()),
            HydrateCancelled(),
            ResolveKeepLocal(),
            RetryRequested(),
        ]
        if not item.folder:  # the cache holds files only
            offered.append(Evict(open_handles=writing or data.draw(st.booleans())))
        if not writing:  # what the spec's events require of the world
            offered += [ResolveKeepRemote(writers=False), ResolveKeepBoth(writers=False)]
            if item.kept is not None:
                offered.append(WritersClosed())
        accepted = [p for p in offered if MACHINE.accepts(item.state, p.EVENT)]
        if accepted:
            self._local(item.ino, data.draw(st.sampled_from(accepted)))

    # ---- the server changes --------------------------------------------------------------------

    @rule(
        data=st.data(),
        what=st.sampled_from(["create", "create", "move", "write", "delete"]),
        name=st.sampled_from(POOL),
        kind=st.sampled_from(KINDS),
        content=st.sampled_from(HASHES),
    )
    def remote_change(
        self, data: st.DataObject, what: str, name: str, kind: Kind, content: str
    ) -> None:
        """Another client changes the drive: the server's log grows, delta will tell."""
        server, items = self.server, self._remote()
        if what == "create" or not items:
            parent = data.draw(st.sampled_from(server.folders()))
            if server.free(parent, name):
                server.create(parent, name, kind, content, 10, 1000.0)
            return
        item = data.draw(st.sampled_from(items))
        if what == "move":
            name = server.items[item].name if data.draw(st.booleans(), label="keep") else name
            below = {item, *server.subtree(item)}
            parent = data.draw(st.sampled_from([f for f in server.folders() if f not in below]))
            touched = data.draw(st.sampled_from([None, 1001.0]), label="mtime")
            if server.free(parent, name, item):
                server.move(item, parent, name, touched)
        elif what == "write" and server.items[item].kind == "file":
            server.write(item, content, data.draw(st.integers(10, 12), label="size"), 1000.0)
        elif what == "delete" and len(items) > 3:  # a tree emptied has nothing to collide
            server.delete(item)

    @precondition(lambda self: self._placed_locally())
    @rule(data=st.data())
    def remote_create_on_a_local_name(self, data: st.DataObject) -> None:
        """Somebody else (or our own upload) puts an item where a local one has its name."""
        item = self._draw(data, self._placed_locally())
        parent = self.world.items[item.parent or ROOT_INODE].remote_id
        assert parent is not None
        variants = [n for n in POOL if key(n) == key(item.name)] or [item.name]
        name = data.draw(st.sampled_from(variants))
        other: Kind = "folder" if item.kind == "file" else "file"
        kind = data.draw(st.sampled_from([item.kind, other]))
        job = item.jobs.get("upload")
        ours = [item.content, item.cached, job and job.snapshot_hash]
        content = data.draw(st.sampled_from([h for h in ours if h and h != UNHASHED] + ["h3"]))
        if self.server.free(parent, name) and self.server.items[parent].kind == "folder":
            self.server.create(parent, name, kind, content, 10, 1000.0)

    # ---- delta --------------------------------------------------------------------------------

    @initialize(data=st.data(), names=st.lists(st.sampled_from(POOL), min_size=1, max_size=4))
    def a_synced_tree(self, data: st.DataObject, names: list[str]) -> None:
        """Start from a few items already on both sides, some in a folder."""
        folder = self.server.create(ROOT_ID, "draft", "folder", None, 0, 1000.0).id
        for name in names:
            parent = data.draw(st.sampled_from([ROOT_ID, folder]), label="parent")
            kind = data.draw(st.sampled_from(KINDS), label="kind")
            if self.server.free(parent, name):
                self.server.create(parent, name, kind, "h1", 10, 1000.0)
        self._ingest(self.server.page(0, len(self.server.log)), len(self.server.log))

    @precondition(lambda self: self.server.log)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        self._deliver_round(data)

    def _deliver_round(self, data: st.DataObject) -> None:
        """One delta round: a stretch of the change log, shuffled, with Graph's habits."""
        cursor = int(self.world.cursor or 0)
        start = data.draw(st.integers(max(0, cursor - 4), cursor), label="from")
        end = data.draw(st.integers(start, len(self.server.log)), label="to")
        page: list[Entry] = self.server.page(start, end)
        extras: list[Entry] = []
        for entry in page:
            ancestor = entry
            while isinstance(ancestor, RemoteState) and data.draw(st.booleans(), label="anc"):
                found = self.server.items.get(ancestor.parent_id or "")
                if found is None:
                    break
                ancestor = found.state()
                extras.append(ancestor)
        if data.draw(st.booleans(), label="unknown delete"):
            extras.append(RemoteDeletion(id=f"never-{next(self.unknown)}"))
        stale: list[Entry] = []
        for entry in page:
            older = self.server.history(entry.id)[:-1]
            if data.draw(st.booleans(), label="stale") and older:
                stale.append(data.draw(st.sampled_from(older)))
        shuffled = data.draw(st.permutations([*page, *extras, *stale]), label="order")
        ordered = _current_last(shuffled, {e.id: e for e in page})
        # One delta round may come as several pages, in no order: a child on the first, its
        # parent on the next. The cursor comes with the last page.
        cuts = sorted(data.draw(st.lists(st.integers(0, len(ordered)), max_size=2), label="cut"))
        bounds = [0, *cuts, len(ordered)]
        for n, (a, b) in enumerate(itertools.pairwise(bounds)):
            self._ingest(ordered[a:b], end if n == len(bounds) - 2 else None)
            self.store_agrees_with_model()

    def _ingest(self, page: list[Entry], end: int | None) -> None:
        cursor = None if end is None else str(end)
        writers = frozenset(self.writers)
        expected = copy.deepcopy(self.world)
        expected.ingest(page, cursor, writers)
        delta.ingest(self.store, page, cursor=cursor, writers=writers)
        numbered = {
            item_id: ino
            for ino, item_id in self.store.conn.execute(
                "SELECT ino, item_id FROM journal WHERE seq > ? AND machine = 'item'"
                " AND event = 'remote_appeared'",
                (self.journal_seq,),
            )
        }
        expected.number_appeared(numbered)
        if any(e == "name_collided" for _, e in expected.journal - self.world.journal):
            event("delta: a remote item arrived on a local item's name")
        if expected.held:
            event("delta: entries held")
        if set(self.world.held) - set(expected.held):
            event("delta: held entries released")
        self.world = expected

    # ---- the outbox ---------------------------------------------------------------------------

    def _startable(self) -> list[tuple[int, str]]:
        """Ready jobs the server would accept as sent (no 404, 409 or 412 to model)."""
        found = []
        for ino, kind, via_temporary in sorted(self.world.ready()):
            item = self.world.items[ino]
            parent = self.world.items.get(item.parent or 0)
            target = None if parent is None else parent.remote_id
            if via_temporary:
                continue
            if kind == "delete":
                found.append((ino, kind))
            elif kind == "move" or item.remote_id is None:
                if (
                    target in self.server.items
                    and self.server.items[target].kind == "folder"
                    and (kind != "move" or item.remote_id in self.server.items)
                    and self.server.free(target, item.name, item.remote_id)
                    and (
                        kind != "move"
                        or target
                        not in {item.remote_id, *self.server.subtree(item.remote_id or "")}
                    )
                ):
                    found.append((ino, kind))
            elif (
                item.remote_id in self.server.items
                and self.server.items[item.remote_id].etag == item.etag
            ):
                found.append((ino, kind))
        return found

    @precondition(lambda self: self._startable())
    @rule(data=st.data())
    def start_job(self, data: st.DataObject) -> None:
        self._start(*data.draw(st.sampled_from(self._startable())))

    @precondition(lambda self: self._creates())
    @rule(data=st.data(), meanwhile=st.sampled_from(["nothing", "rename", "write"]))
    def our_create_echoed(self, data: st.DataObject, meanwhile: str) -> None:
        """The race at the heart of issue 8: the server has our new item, delta reports it
        before the create's answer is in, maybe after the user renamed or rewrote it."""
        flight = self._start(*data.draw(st.sampled_from(self._creates())))
        item = self.world.items[flight.ino]
        if meanwhile == "rename":
            parent = data.draw(st.sampled_from(self._visible(folders=True)), label="to")
            self._local(
                item.ino, LocalRenamed(parent=parent, name=data.draw(st.sampled_from(POOL)))
            )
        elif meanwhile == "write" and not item.folder:
            self._note_write(item.ino, 3, data.draw(st.sampled_from(HASHES), label="bytes"))
        self._deliver_round(data)
        if data.draw(st.booleans(), label="answered") and flight in self.flights:
            self._finish(data, flight)

    def _creates(self) -> list[tuple[int, str]]:
        return [(i, k) for i, k in self._startable() if self.world.items[i].remote_id is None]

    def _start(self, ino: int, kind: str) -> Flight:
        """A worker takes the job and sends it: the server changes now, its answer waits."""
        item = self.world.items[ino]
        job = item.jobs[kind]
        intent = _one(
            self.store.conn, "SELECT id FROM intents WHERE ino = ? AND kind = ?", ino, kind
        )
        snapshot = None
        if kind == "upload":
            snapshot = Snapshot(seq=item.seq, hash=item.content, size=item.size)
            job.snapshot_seq, job.snapshot_hash = item.seq, item.content
        assert self.store.start_job(intent, snapshot) == "UPLOADING"
        job.state = "UPLOADING"
        sent_mtime = None if kind == "delete" else item.mtime
        flight = Flight(ino, kind, intent, job.gen, self._send(item, kind), item.seq, sent_mtime)
        self.flights.append(flight)
        return flight

    def _send(self, item: Item, kind: str) -> RemoteState | None:
        """What the request does on the server, and the item the server answers with."""
        parent = self.world.items.get(item.parent or 0)
        target = None if parent is None else parent.remote_id
        if kind == "delete":
            if item.remote_id in self.server.items:
                self.server.delete(item.remote_id or "")
            return None
        if kind == "move":
            assert item.remote_id is not None and target is not None
            return self.server.move(item.remote_id, target, item.name, item.mtime).state()
        if item.remote_id is None:
            assert target is not None
            sent = self.server.create(
                target, item.name, item.kind, item.content, item.size, item.mtime or 0.0
            )
            return sent.state()
        return self.server.write(item.remote_id, item.content, item.size, item.mtime or 0.0).state()

    @precondition(lambda self: self.flights)
    @rule(data=st.data())
    def finish_job(self, data: st.DataObject) -> None:
        self._finish(data, data.draw(st.sampled_from(self.flights)))

    def _finish(self, data: st.DataObject, flight: Flight) -> None:
        """The server's answer reaches the store: the job's outcome and the item's event."""
        self.flights.remove(flight)
        payload: Payload
        report = JobReport("succeeded")
        if flight.kind == "delete":
            payload = DeleteConfirmed()
        elif flight.kind == "move":
            assert flight.reply is not None
            payload = MoveSucceeded(remote=flight.reply, sent_mtime=flight.sent_mtime)
        elif data.draw(st.integers(0, 3), label="fails") == 0:
            # Refused for good after the server took the bytes: the reply was lost.
            report = JobReport("permanent_error", error="refused for good")
            payload = UploadFailed(failure=failure())
        else:
            assert flight.reply is not None
            payload = UploadSucceeded(
                remote=flight.reply, snapshot_seq=flight.seq, sent_mtime=flight.sent_mtime
            )

        def on_model(world: World) -> None:
            item = world.items.get(flight.ino)
            job = None if item is None else item.jobs.get(flight.kind)
            if item is None or job is None or job.gen != flight.gen:
                raise JobGone(flight.intent)
            del item.jobs[flight.kind]  # a final state: the job leaves the outbox
            world.fire(flight.ino, payload)
            event(f"finished: {payload.EVENT} in {item.state}")

        self._both(on_model, lambda: self.store.finish_job(flight.intent, report, payload))

    @precondition(lambda self: self.flights or self.world.held)
    @rule(data=st.data())
    def reopen(self, data: st.DataObject) -> None:
        """The process ends and starts again: jobs in flight go back to the queue. (A rule
        without arguments is the one Hypothesis favours: it would end every flight at once.)"""
        if not data.draw(st.booleans(), label="now"):
            return
        self.store.close()
        self.store = self._open()
        touched = 0
        for item in self.world.items.values():
            for job in item.jobs.values():
                if job.state == "UPLOADING":
                    job.state = "QUEUED"
                    touched += 1
        assert self.store.recover_jobs() == touched
        self.flights.clear()

    # ---- the comparison -----------------------------------------------------------------------

    @invariant()
    def store_agrees_with_model(self) -> None:
        conn = self.store.conn
        stored, modelled = _store_rows(conn), {i: _view(m) for i, m in self.world.items.items()}
        differences = {
            ino: {
                f: (stored.get(ino, {}).get(f), modelled.get(ino, {}).get(f))
                for f in {*stored.get(ino, {}), *modelled.get(ino, {})}
                if stored.get(ino, {}).get(f) != modelled.get(ino, {}).get(f)
            }
            for ino in {*stored, *modelled}
        }
        differences = {ino: d for ino, d in differences.items() if d}
        assert not differences, f"(store, model) by inode: {differences}"
        held = {i for (i,) in conn.execute("SELECT item_id FROM delta_held")}
        assert held == set(self.world.held)
        found = conn.execute("SELECT value FROM kv WHERE key = 'delta_cursor'").fetchone()
        assert (found and found[0]) == self.world.cursor
        journal = Counter(
            (ino, event)
            for ino, event in conn.execute("SELECT ino, event FROM journal WHERE machine = 'item'")
        )
        extra, missing = journal - self.world.journal, self.world.journal - journal
        assert journal == self.world.journal, f"journal: {extra} not modelled, {missing} missing"
        self.journal_seq = _one(conn, "SELECT max(seq) FROM journal")
        assert unsound(conn) == []
        ready = {(j.ino, j.kind, j.via_temporary_name) for j in ready_jobs(conn, NOW)}
        assert ready == self.world.ready()


def _one(conn: apsw.Connection, sql: str, *params: object) -> int:
    """The single integer a query answers."""
    (found,) = conn.execute(sql, params).fetchall()
    return int(found[0])  # type: ignore[arg-type]


def _current_last(entries: list[Entry], current: dict[str, Entry]) -> list[Entry]:
    """Where an id occurs more than once, its current state takes the last of its places."""
    places: dict[str, list[int]] = {}
    for n, entry in enumerate(entries):
        places.setdefault(entry.id, []).append(n)
    ordered = list(entries)
    for item_id, where in places.items():
        if item_id in current and len(where) > 1:
            others = [entries[n] for n in where if entries[n] is not current[item_id]]
            for n, entry in zip(where, [*others, current[item_id]][-len(where) :], strict=True):
                ordered[n] = entry
    return ordered


def _store_rows(conn: apsw.Connection) -> dict[int, dict[str, object]]:
    jobs: dict[int, dict[str, tuple[str, str | None]]] = {}
    for ino, kind, state, snapshot in conn.execute(
        "SELECT ino, kind, job_state, snapshot_hash FROM intents"
    ):
        jobs.setdefault(ino, {})[kind] = (state, snapshot)
    rows = {}
    for found in conn.execute(SELECT_ITEMS):
        row = as_row(found)
        assert unicodedata.normalize("NFD", row["name_key"]) == key(row["name"])
        local = row["remote_id"] is None and row["item_id"].startswith("local:")
        rows[row["ino"]] = {
            "state": row["state"],
            "kind": row["kind"],
            "parent": row["parent_ino"],
            "name": row["name"],
            "remote_id": row["remote_id"],
            "item_id": "local" if local else row["item_id"] == row["remote_id"] or row["item_id"],
            "etag": row["etag"],
            "ctag": row["ctag"],
            "remote_hash": row["remote_hash"],
            "cached": row["cached_hash"],
            "size": row["size"],
            "mtime": row["mtime"],
            "seq": row["local_change_seq"],
            "remote_name": row["remote_name"],
            "remote_parent": row["remote_parent_ino"],
            "kept": None
            if row["conflict_remote_etag"] is None
            else tuple(
                row[f"conflict_remote_{c}"] for c in ("etag", "ctag", "hash", "size", "mtime")
            ),
            "changes": bool(row["has_local_changes"]),
            "hydrating": row["hydration_started"] is not None and row["hydration_finished"] is None,
            "error": row["last_error"] is not None,
            "pinned": bool(row["pinned"]),
            "jobs": jobs.get(row["ino"], {}),
        }
    return rows


def _view(item: Item) -> dict[str, object]:
    return {
        "state": item.state,
        "kind": item.kind,
        "parent": item.parent,
        "name": item.name,
        "remote_id": item.remote_id,
        "item_id": "local" if item.remote_id is None else True,
        "etag": item.etag,
        "ctag": item.ctag,
        "remote_hash": item.remote_hash,
        "cached": item.cached,
        "size": item.size,
        "mtime": item.mtime,
        "seq": item.seq,
        "remote_name": item.remote_name,
        "remote_parent": item.remote_parent,
        "kept": item.kept,
        "changes": item.changes,
        "hydrating": item.hydrating,
        "error": item.error,
        "pinned": item.pinned,
        "jobs": {k: (j.state, j.snapshot_hash) for k, j in item.jobs.items()},
    }


# About a minute by default; ``--hypothesis-profile=nightly`` runs the profile's longer search.
_PROFILE = settings()
TestStoreModel = StoreMachine.TestCase
TestStoreModel.settings = (
    _PROFILE
    if _PROFILE.max_examples > 100  # nightly
    else settings(max_examples=100, stateful_step_count=50, deadline=None)
)
TestStoreModel = pytest.mark.model(TestStoreModel)
