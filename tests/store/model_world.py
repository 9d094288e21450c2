"""A plain Python model of the item store and of the server it syncs with, for test_model.py.

The model keeps its own items (placement, hashes, intents, flags) and learns from the spec only
what a reader of it would: ``compiled("item").resolve`` says which transition an event takes,
from guards the model computes from its own fields by the meaning spec/item.meta.yaml gives
them; each effect changes the flags and intents its ``sets`` declares and the concrete fields
(name, parent, ids, hashes, sizes) its ``meaning`` describes. Where the meaning is silent the
model follows the store's documented behaviour (docstrings of :mod:`onemount.store`), and says
so. Nothing here calls the store: the state machine in test_model.py runs both and compares.

The server side (:class:`Server`) is just as plain: items by id, a change log, and pages cut
from the log the way Graph's delta cuts them (each id once, at its latest change, with its
current state).
"""

from __future__ import annotations

import copy
import os
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from onemount.statemachine import InvalidTransition, compiled, default_spec
from onemount.store import ROOT_INODE, InvalidPlacement, NameTaken, UnknownItem
from onemount.store.events import (
    Kind,
    LocalCreated,
    LocalModified,
    LocalOverwritten,
    LocalRenamed,
    LocalTimesChanged,
    MoveSucceeded,
    NameCollided,
    Payload,
    RemoteAppeared,
    RemoteChanged,
    RemoteDeleted,
    RemoteDeletion,
    RemoteState,
    UploadSucceeded,
)
from onemount.store.item_bindings import UNHASHED

SPEC = default_spec("item")
MACHINE = compiled("item")
NOW = 1_800_000_000.0  # the store's clock in the model test: conflict names are predictable
ROOT_ID = "root-id"
Entry = RemoteState | RemoteDeletion
_INTENTS = {"pending_upload": "upload", "pending_mkdir": "mkdir", "pending_move": "move"}
_INTENTS["pending_delete"] = "delete"
_FLAGS = {"has_local_changes": "changes", "hydration_active": "hydrating"}
_FLAGS["error_recorded"] = "error"
# Effects whose meaning is all in their ``sets`` (flags and intents), nothing concrete besides.
_SETS_ONLY = frozenset(
    {
        "queue_upload",
        "queue_mkdir",
        "queue_move",
        "queue_delete",
        "cancel_all_intents",
        "cancel_upload",
        "cancel_delete",
        "complete_move",
        "restart_hydration",
        "abandon_hydration",
        "record_error",
        "clear_error",
        "purge",
    }
)


def key(name: str) -> str:
    """Two names OneDrive treats as one: canonically equivalent once case-folded."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def conflict_name(name: str, taken: set[str]) -> str:
    """'<stem> (conflict copy YYYY-MM-DD HHMMSS)<ext>', then ' 2', ' 3'... after the stamp; a
    long stem gives way so that the name stays within 255 bytes and 255 UTF-16 units."""
    stem, ext = os.path.splitext(name)
    stamp = time.strftime("%Y-%m-%d %H%M%S", time.gmtime(NOW))
    n = 1
    while True:
        tail = f" (conflict copy {stamp}{'' if n == 1 else f' {n}'}){ext}"
        short = stem
        while short and not _fits(short + tail):
            short = short[:-1]
        candidate = (short.rstrip() or "_") + tail
        if key(candidate) not in taken:
            return candidate
        n += 1


def _fits(name: str) -> bool:
    return len(name.encode()) <= 255 and len(name.encode("utf-16-le")) <= 2 * 255


class Hold(Exception):
    """The model's ingest cannot apply an entry yet: the store must hold it too."""


@dataclass(frozen=True)
class Moves:
    """An entry waits for the page to move the item (this inode) that holds its name."""

    ino: int


@dataclass(frozen=True)
class Goes:
    """An entry waits for the page's delete of the item (this id) that holds its name."""

    id: str


@dataclass(frozen=True)
class Held:
    """Nothing in the page lets the entry be applied: why it is held."""

    reason: str  # parent | cycle | name


Verdict = Moves | Goes | Held | str | None


@dataclass
class Job:
    """An intent of the outbox. ``gen`` tells a re-created intent from the one a worker holds."""

    kind: str
    gen: int
    state: str = "QUEUED"
    snapshot_seq: int | None = None
    snapshot_hash: str | None = None


@dataclass
class Item:
    ino: int
    kind: Kind
    state: str
    parent: int | None
    name: str
    remote_id: str | None = None
    etag: str | None = None
    ctag: str | None = None
    remote_hash: str | None = None
    cached: str | None = None
    size: int = 0
    mtime: float | None = None
    seq: int = 0
    remote_name: str | None = None
    remote_parent: int | None = None
    kept: tuple[str, str | None, str | None, int, float | None] | None = None
    changes: bool = False
    hydrating: bool = False
    error: bool = False
    pinned: bool = False
    jobs: dict[str, Job] = field(default_factory=dict)
    content: str | None = None  # what the local bytes hash to (the uploader's truth); model only

    @property
    def folder(self) -> bool:
        return self.kind == "folder"

    @property
    def live(self) -> bool:
        return self.state != "DELETED_LOCAL"

    def moving_locally(self) -> bool:
        """Its name there is ours, not yet the server's (a rename not sent)."""
        return self.remote_id is not None and (self.parent, key(self.name)) != (
            self.remote_parent,
            key(self.remote_name or ""),
        )

    def placed_locally(self) -> bool:
        return self.remote_id is None or self.moving_locally()

    def columns(self) -> tuple[object, ...]:
        """What a store row holds of the item (a no-op leaves all of it equal)."""
        jobs = tuple(sorted((k, j.state, j.snapshot_hash) for k, j in self.jobs.items()))
        return (*(v for k, v in vars(self).items() if k not in ("jobs", "content")), jobs)


class _Guards(Mapping[str, bool]):
    """The spec's guards read from the model's own fields, each on first use."""

    def __init__(self, world: World, item: Item | None, payload: Payload) -> None:
        self.world, self.item, self.payload = world, item, payload

    def __getitem__(self, name: str) -> bool:
        return bool(getattr(self, name)())

    def __iter__(self) -> Iterator[str]:
        return iter(SPEC.guards)

    def __len__(self) -> int:
        return len(SPEC.guards)

    def _remote(self) -> RemoteState:
        remote = getattr(self.payload, "remote", None) or getattr(self.payload, "arrival", None)
        assert isinstance(remote, RemoteState)
        return remote

    def is_directory(self) -> bool:
        if self.item is not None:
            return self.item.folder
        kind = getattr(self.payload, "kind", None) or self._remote().kind
        return kind == "folder"

    def is_virtual(self) -> bool:
        return False

    def pinned(self) -> bool:
        return self.item is not None and self.item.pinned

    def has_local_changes(self) -> bool:
        return self.item is not None and self.item.changes

    def has_open_handles(self) -> bool:
        return bool(self.payload.open_handles)  # type: ignore[attr-defined]

    def has_writers(self) -> bool:
        return bool(self.payload.writers)  # type: ignore[attr-defined]

    def content_changed(self) -> bool:
        """cTag or hash differ; a file whose version cannot be compared counts as changed."""
        item, remote = self.item, self._remote()
        if item is None or item.folder:
            return False
        pairs = [(remote.ctag, item.ctag), (remote.hash, item.remote_hash)]
        known = [(a, b) for a, b in pairs if a is not None and b is not None]
        return not known or any(a != b for a, b in known)

    def exists_remotely(self) -> bool:
        return self.item is not None and self.item.remote_id is not None

    def changed_during_upload(self) -> bool:
        assert self.item is not None
        return bool(self.payload.snapshot_seq != self.item.seq)  # type: ignore[attr-defined]

    def has_unsent_descendants(self) -> bool:
        """Below the folder: unsent changes, or an item the server has outside it (moved in)."""
        assert self.item is not None
        below = self.world.descendants(self.item.ino)
        inside = {self.item.ino, *below}
        return any(
            self.world.items[d].changes
            or (
                self.world.items[d].remote_parent is not None
                and self.world.items[d].remote_parent not in inside
            )
            for d in below
        )

    def has_kept_remote_version(self) -> bool:
        return self.item is not None and self.item.kept is not None

    def _snapshot(self) -> str | None:
        job = None if self.item is None else self.item.jobs.get("upload")
        return None if job is None else job.snapshot_hash

    def is_upload_echo(self) -> bool:
        remote = self._remote()
        return remote.hash is not None and remote.hash == self._snapshot()

    def hydration_current(self) -> bool:
        assert self.item is not None
        verified = self.payload.cached_hash  # type: ignore[attr-defined]
        return self.item.remote_hash is None or verified == self.item.remote_hash

    def matches_arrival(self) -> bool:
        """Our own create echoed: not on the server yet, same kind, our snapshot's or bytes'
        hash."""
        item, arrival = self.item, self._remote()
        assert item is not None
        if item.remote_id is not None or arrival.kind != item.kind:
            return False
        ours = {self._snapshot(), item.cached} - {None, UNHASHED}
        return item.folder or arrival.hash in ours

    def remote_matches_local(self) -> bool:
        """The server's content is the bytes we hold: their hash is known and equal."""
        item = self.item
        if item is None or item.folder or item.cached in (None, UNHASHED):
            return False
        return self._remote().hash == item.cached

    def attributes_changed_since_sent(self) -> bool:
        item, remote = self.item, self._remote()
        assert item is not None
        if isinstance(self.payload, UploadSucceeded) and item.remote_id is not None:
            return False  # an upload by id carries no placement
        sent = getattr(self.payload, "sent_mtime", None)
        if sent is not None and sent != item.mtime:
            return True
        return remote.name != item.name or self.world.ino_of(remote.parent_id) != item.parent


@dataclass
class World:
    """The local side: items by inode, the journal as (inode, event) counts, held entries."""

    items: dict[int, Item] = field(default_factory=dict)
    next_ino: int = ROOT_INODE
    journal: Counter[tuple[int, str]] = field(default_factory=Counter)
    held: dict[str, Entry] = field(default_factory=dict)
    cursor: str | None = None
    gens: int = 0
    appeared: dict[str, int] = field(default_factory=dict)  # this page's new rows: id -> ino
    hold_reasons: dict[str, str] = field(default_factory=dict)  # the last page's, by id
    spawn: list[tuple[LocalCreated, str | None]] = field(default_factory=list)  # conflict copies

    # ---- reading the model --------------------------------------------------------------------

    def ino_of(self, item_id: str | None) -> int | None:
        if item_id is None:
            return None
        return next((i.ino for i in self.items.values() if i.remote_id == item_id), None)

    def children(self, ino: int) -> list[Item]:
        return [i for i in self.items.values() if i.parent == ino]

    def descendants(self, ino: int) -> list[int]:
        found = [c.ino for c in self.children(ino)]
        return found + [d for c in found for d in self.descendants(c)]

    def live_at(self, parent: int, name: str, besides: int | None = None) -> Item | None:
        return next(
            (
                i
                for i in self.items.values()
                if i.parent == parent and i.live and key(i.name) == key(name) and i.ino != besides
            ),
            None,
        )

    def visible(self, ino: int) -> bool:
        """Reachable through the mount: live, and every ancestor live."""
        item: Item | None = self.items[ino]
        while item is not None:
            if not item.live:
                return False
            item = None if item.parent is None else self.items[item.parent]
        return True

    def inside(self, ino: int, folder: int) -> bool:
        """Whether ``ino`` is ``folder`` or lies below it (a cycle of parents ends the walk)."""
        seen: set[int] = set()
        current: int | None = ino
        while current is not None and current not in seen:
            if current == folder:
                return True
            seen.add(current)
            current = self.items[current].parent
        return False

    def in_a_cycle(self, ino: int) -> bool:
        """Whether the parent chain from ``ino`` never reaches the root."""
        seen: set[int] = set()
        current: int | None = ino
        while current is not None:
            if current in seen:
                return True
            seen.add(current)
            current = self.items[current].parent
        return False

    # ---- one event, as the spec declares it ---------------------------------------------------

    def fire(self, ino: int | None, payload: Payload) -> int:
        """Apply one event; raise what the store raises. The caller discards a failed copy."""
        remote = getattr(payload, "remote", None) or getattr(payload, "arrival", None)
        parent_id = remote.parent_id if isinstance(remote, RemoteState) else None
        if parent_id is not None and self.ino_of(parent_id) is None:
            raise UnknownItem(parent_id)
        item = None if ino is None else self.items[ino]
        source = "ABSENT" if item is None else item.state
        transition = MACHINE.resolve(source, payload.EVENT, _Guards(self, item, payload))
        if item is None:
            item = self._new(payload)
        before = item.columns()
        old_id = item.remote_id
        intents = False
        for effect in transition.effects:
            sets = SPEC.effects[effect].sets
            intents = intents or any(f in _INTENTS for f in sets)
            concrete = getattr(self, f"do_{effect}", None)
            if concrete is not None:
                concrete(item, payload)
            else:
                assert effect in _SETS_ONLY, f"the model does not know what {effect} does"
            if effect == "purge":
                return self._purge(item, payload.EVENT)
            for flag, attr in _FLAGS.items():
                if flag in sets:
                    setattr(item, attr, sets[flag])
            for flag, kind in _INTENTS.items():
                if flag in sets:
                    self._intent(item, kind, sets[flag])
            _check_declared(effect, item)
        item.state = transition.target
        if ino is not None and not intents and item.columns() == before:
            return item.ino  # nothing changed: nothing written, nothing journaled
        if ino is not None and item.remote_id is not None and item.remote_id != old_id:
            self._absorb(item)
        self.journal[item.ino, payload.EVENT] += 1
        spawn, self.spawn = self.spawn, []
        for created, content in spawn:
            self.items[self.fire(None, created)].content = content
        return item.ino

    def _new(self, payload: Payload) -> Item:
        if isinstance(payload, RemoteAppeared):
            remote = payload.remote
            parent = self.ino_of(remote.parent_id)
            ino = ROOT_INODE if remote.parent_id is None else self._fresh_ino(remote.id)
            item = Item(ino, remote.kind, "ABSENT", parent, remote.name, mtime=NOW)
        else:
            assert isinstance(payload, LocalCreated)
            if payload.parent not in self.items:
                raise UnknownItem(payload.parent)
            if not self.items[payload.parent].folder:
                raise InvalidPlacement(payload.parent)
            item = Item(self._fresh_ino(None), payload.kind, "ABSENT", payload.parent, payload.name)
            item.size, item.mtime = payload.size, payload.mtime
        self.items[item.ino] = item
        return item

    def _fresh_ino(self, remote_id: str | None) -> int:
        """A new inode; a row a delta page creates is numbered by the store (any order of the
        page may number them): a placeholder until :meth:`number_appeared`."""
        if remote_id is not None:
            ino = -1 - len(self.appeared)
            self.appeared[remote_id] = ino
            return ino
        self.next_ino += 1
        return self.next_ino

    def _intent(self, item: Item, kind: str, pending: bool) -> None:
        """Queue (coalesced per item and kind) or drop an intent.

        Queued again while its job waits, an upload forgets its snapshot: its next attempt
        sends the current bytes (manager.py, ``_ADD_INTENT``). One being sent keeps it.
        """
        job = item.jobs.get(kind)
        if not pending:
            item.jobs.pop(kind, None)
        elif job is None:
            self.gens += 1
            item.jobs[kind] = Job(kind, self.gens)
        elif job.state != "UPLOADING":
            job.snapshot_seq = job.snapshot_hash = None

    def _purge(self, item: Item, event: str) -> int:
        """The row and its subtree go; the journal keeps a row for each."""
        for gone in [*self.descendants(item.ino), item.ino]:
            self.journal[gone, event] += 1
            del self.items[gone]
        return item.ino

    def _absorb(self, item: Item) -> None:
        """Another row that holds the server id ``item`` just took is our own item, ingested
        early as a clean twin: it leaves through the spec's ``remote_deleted``, and the inode
        the user holds keeps the id (manager.py, ``_absorb_echo``). Its children are that id's
        children on the server: they stay, under the row that took the id, and one sharing a
        name with a child of ours arrives on it (``name_collided`` on ours), unless it came
        under the twin by a move of ours (refused). A twin with local changes cannot leave:
        the transaction is refused."""
        twin = next(
            (i for i in self.items.values() if i.remote_id == item.remote_id and i is not item),
            None,
        )
        if twin is None:
            return
        if twin.changes or twin.kind != item.kind:
            raise NameTaken(twin.ino)
        handed = [c for c in self.children(twin.ino) if c.live]
        for child in self.children(twin.ino):  # the server's children of that id are ours now
            child.parent = item.ino
        for other in self.items.values():
            if other.remote_parent == twin.ino:
                other.remote_parent = item.ino
        self.fire(twin.ino, RemoteDeleted(writers=False))
        if self.in_a_cycle(item.ino):
            raise InvalidPlacement(item.ino)
        for child in handed:
            if child.ino not in self.items:
                continue  # adopted by one of ours meanwhile
            mine = self.live_at(item.ino, child.name, child.ino)
            if mine is None:
                continue
            if child.moving_locally() or child.remote_id is None or not mine.placed_locally():
                raise NameTaken(child.ino)
            arrival = RemoteState(
                id=child.remote_id,
                name=child.remote_name or "",
                parent_id=item.remote_id,
                kind=child.kind,
                etag=child.etag,
                ctag=child.ctag,
                hash=child.remote_hash,
                size=child.size,
                mtime=child.mtime,
            )
            self.fire(mine.ino, NameCollided(arrival=arrival))

    # ---- effects: the concrete part of each meaning (flags and intents come from ``sets``) ----

    def _server_metadata(self, item: Item, remote: RemoteState) -> None:
        """eTag, cTag, hash, and what getattr shows unless local bytes are pending; the server's
        placement; the row's own placement unless a move of ours is pending."""
        new_content = not item.folder and (remote.ctag, remote.hash) != (
            item.ctag,
            item.remote_hash,
        )
        item.etag, item.ctag, item.remote_hash = remote.etag, remote.ctag, remote.hash
        if not item.changes:
            item.size = remote.size
            # the user's utime waits for its move; new content brings its own time
            if remote.mtime is not None and (new_content or "move" not in item.jobs):
                # a server that keeps whole seconds of our time gives back ours
                ours = item.mtime is not None and remote.mtime == float(int(item.mtime))
                item.mtime = item.mtime if ours else remote.mtime
        self._server_placement(item, remote)
        if "move" not in item.jobs:
            item.name, item.parent = remote.name, item.remote_parent

    def _server_placement(self, item: Item, remote: RemoteState) -> None:
        item.remote_name, item.remote_parent = remote.name, self.ino_of(remote.parent_id)

    def do_mark_remote(self, item: Item, p: Payload) -> None:
        remote = p.remote  # type: ignore[attr-defined]
        item.remote_id, item.kind, item.cached, item.changes = remote.id, remote.kind, None, False
        self._server_metadata(item, remote)

    def do_record_local_change(self, item: Item, p: Payload) -> None:
        item.seq += 1
        if isinstance(p, LocalCreated | LocalModified | LocalOverwritten):
            item.size, item.mtime = p.size, p.mtime
            if not item.folder:
                item.cached = getattr(p, "cached_hash", None) or UNHASHED
        elif not item.folder and item.cached is None:
            item.cached = UNHASHED
        if item.folder:
            item.cached = UNHASHED

    def do_take_local_placement(self, item: Item, p: Payload) -> None:
        assert isinstance(p, LocalRenamed)
        item.name, item.parent = p.name, p.parent

    def do_take_local_times(self, item: Item, p: Payload) -> None:
        assert isinstance(p, LocalTimesChanged)
        item.mtime = p.mtime

    def do_move_aside(self, item: Item, _p: Payload) -> None:
        assert item.parent is not None
        taken = {key(i.name) for i in self.children(item.parent) if i.live}
        item.name = conflict_name(item.name, taken)

    def do_record_server_placement(self, item: Item, p: Payload) -> None:
        assert isinstance(p, MoveSucceeded)
        item.etag = p.remote.etag
        self._server_placement(item, p.remote)

    def do_adopt_remote_identity(self, item: Item, p: Payload) -> None:
        assert isinstance(p, NameCollided)
        arrival = p.arrival
        item.remote_id, item.etag, item.ctag = arrival.id, arrival.etag, arrival.ctag
        item.remote_hash = arrival.hash
        self._server_placement(item, arrival)

    def do_start_hydration(self, item: Item, _p: Payload) -> None:
        item.error = False  # "clear the last error"

    def do_finish_hydration(self, item: Item, p: Payload) -> None:
        item.cached = item.content = p.cached_hash  # type: ignore[attr-defined]

    def do_drop_cached_content(self, item: Item, _p: Payload) -> None:
        if not item.folder:
            item.cached = None

    def do_drop_kept_version(self, item: Item, _p: Payload) -> None:
        item.kept = None

    def do_refresh_remote_metadata(self, item: Item, p: Payload) -> None:
        self._server_metadata(item, p.remote)  # type: ignore[attr-defined]

    def do_adopt_uploaded_version(self, item: Item, p: Payload) -> None:
        assert isinstance(p, UploadSucceeded)
        remote = p.remote
        item.remote_id, item.etag, item.ctag = remote.id, remote.etag, remote.ctag
        item.remote_hash = remote.hash
        self._server_placement(item, remote)

    def do_clear_local_changes(self, item: Item, _p: Payload) -> None:
        """The server has our bytes: the cached hash is the one it answered with."""
        item.cached = None if item.folder else item.remote_hash or UNHASHED

    def do_keep_remote_version(self, item: Item, p: Payload) -> None:
        remote = getattr(p, "remote", None)
        assert isinstance(remote, RemoteState)
        item.kept = (remote.etag or "unknown", remote.ctag, remote.hash, remote.size, remote.mtime)
        self._server_placement(item, remote)
        if "move" not in item.jobs:
            item.name, item.parent = remote.name, item.remote_parent

    def do_forget_remote_identity(self, item: Item, _p: Payload) -> None:
        item.remote_id = item.etag = item.ctag = item.remote_hash = None
        item.remote_name = item.remote_parent = item.kept = None

    def do_adopt_remote_version_as_base(self, item: Item, _p: Payload) -> None:
        if item.kept is not None and item.kept[0] != "unknown":
            item.etag = item.kept[0]
        item.kept = None

    def do_adopt_remote_version(self, item: Item, _p: Payload) -> None:
        if item.kept is not None and item.kept[0] != "unknown":
            item.etag, item.ctag, item.remote_hash, size, mtime = item.kept
            item.size = size
            if mtime is not None:
                item.mtime = mtime
        item.kept = None

    def do_discard_local_changes(self, item: Item, _p: Payload) -> None:
        item.cached = None

    def do_fork_conflict_copy(self, item: Item, _p: Payload) -> None:
        assert item.parent is not None and item.mtime is not None
        taken = {key(i.name) for i in self.children(item.parent) if i.live}
        copy_of = LocalCreated(
            parent=item.parent,
            name=conflict_name(item.name, taken),
            kind="file",
            size=item.size,
            mtime=item.mtime,
            mode=None,
        )
        self.spawn.append((copy_of, item.content))
        item.cached = None

    # ---- what a transaction checks before commit ----------------------------------------------

    def check_tree(self) -> None:
        """Every parent a folder, no folder inside itself, live names unique among siblings."""
        for item in self.items.values():
            if item.parent is None:
                continue
            if not self.items[item.parent].folder:
                raise InvalidPlacement(item.ino)
            if self.in_a_cycle(item.ino):
                raise InvalidPlacement(item.ino)
        names = Counter((i.parent, key(i.name)) for i in self.items.values() if i.live)
        if names and max(names.values()) > 1:
            raise NameTaken(names.most_common(1))

    # ---- the outbox ---------------------------------------------------------------------------

    def ready(self) -> set[tuple[int, str, bool]]:
        """The jobs that may start: due, nothing of the item in flight, a parent before its
        child, a create or move after the server's name is freed (outbox.py); one move of each
        cycle of moves waiting for each other's names goes through a temporary name."""
        found: set[tuple[int, str, bool]] = set()
        blocked: dict[int, int] = {}
        for item in self.items.values():
            if any(j.state == "UPLOADING" for j in item.jobs.values()):
                continue
            parent = None if item.parent is None else self.items[item.parent]
            for kind, job in item.jobs.items():
                if job.state not in ("QUEUED", "WAITING_RETRY"):
                    continue
                if kind != "delete" and parent is not None and parent.remote_id is None:
                    continue
                if kind == "move" and (item.remote_id is None or "delete" in item.jobs):
                    continue
                if kind == "move" or item.remote_id is None:
                    blocker = self.holding_server_name(item)
                    if blocker is not None:
                        if kind == "move":
                            blocked[item.ino] = blocker
                        continue
                found.add((item.ino, kind, False))
        settled: set[int] = set()
        for start in sorted(blocked):
            path: list[int] = []
            ino = start
            while ino in blocked and ino not in settled and ino not in path:
                path.append(ino)
                ino = blocked[ino]
            settled.update(path)
            if ino in path:
                found.add((min(path[path.index(ino) :]), "move", True))
        return found

    def holding_server_name(self, item: Item) -> int | None:
        """Another item the server still has under this item's parent and name, as last heard."""
        return next(
            (
                o.ino
                for o in self.items.values()
                if o is not item
                and o.remote_name is not None
                and (o.remote_parent, key(o.remote_name)) == (item.parent, key(item.name))
            ),
            None,
        )

    # ---- a delta page -------------------------------------------------------------------------

    def ingest(self, page: list[Entry], cursor: str | None, writers: frozenset[int]) -> None:
        """Apply a page as the store documents it (delta.py): the last state of each id, parents
        first, lives before deletes, the arrival on a local item's name resolved by
        ``name_collided`` on that item, two items trading names applied together, and every
        entry that cannot be applied yet held (and retried with later pages), never refused."""
        last: dict[str, Entry] = {}
        for entry in page:
            last.pop(entry.id, None)
            last[entry.id] = entry
        earlier = {i: e for i, e in self.held.items() if i not in last}
        self.held = {}
        entries = {**last, **earlier}
        lives = {i: e for i, e in entries.items() if isinstance(e, RemoteState)}
        gone = {i: e for i, e in entries.items() if isinstance(e, RemoteDeletion)}
        self.appeared, self.hold_reasons = {}, {}
        while lives:
            verdicts = {i: self._readiness(e, lives, gone, writers) for i, e in lives.items()}
            for item_id, verdict in verdicts.items():
                if isinstance(verdict, Held):
                    self.held[item_id] = lives.pop(item_id)
                    self.hold_reasons[item_id] = verdict.reason
            step = self._next_step({i: v for i, v in verdicts.items() if i in lives}, lives)
            if step is not None:
                item_id, is_live = step
                applied = lives.pop(item_id) if is_live else gone.pop(item_id)
                self._tentatively(applied, writers, check_names=True)
            elif trading := self._trading_names(verdicts):
                for item_id in trading:
                    self._tentatively(lives.pop(item_id), writers, check_names=False)
            else:
                self.held.update(lives)
                self.hold_reasons.update(dict.fromkeys(lives, "waiting"))
                break
        for entry in gone.values():
            self._tentatively(entry, writers, check_names=True)
        self.check_tree()
        if cursor is not None:
            self.cursor = cursor

    def _readiness(
        self,
        entry: RemoteState,
        lives: Mapping[str, Entry],
        gone: Mapping[str, Entry],
        writers: frozenset[int],
    ) -> Verdict:
        """Whether ``entry`` can be applied now (None), what it waits for in the page (a
        parent, the move or delete of the item holding its name), or that it is held."""
        parent = self.ino_of(entry.parent_id)
        if entry.parent_id is not None and parent is None:
            return "wait" if entry.parent_id in lives else Held("parent")
        row_ino = self.ino_of(entry.id)
        row = None if row_ino is None else self.items[row_ino]
        # A folder moved under its own subtree (a pending move of ours keeps our placement).
        if (
            row is not None
            and row.folder
            and "move" not in row.jobs
            and parent is not None
            and self.inside(parent, row.ino)
        ):
            between = self._chain(parent, row.ino)[:-1]
            moving = any(self.items[c].remote_id in lives for c in between)
            return "wait" if moving else Held("cycle")
        if parent is None or (row is not None and row.moving_locally()):
            return None
        if not self.arrives_live(row, entry, writers):
            return None  # a tombstone keeps no name: nobody has to make way
        occupant = self.live_at(parent, entry.name, row_ino)
        if occupant is None or occupant.placed_locally():
            return None
        if occupant.remote_id in lives:
            return Moves(occupant.ino)
        if occupant.remote_id in gone:
            return Goes(occupant.remote_id or "")
        return Held("name")

    def _next_step(
        self, pending: Mapping[str, Verdict], lives: Mapping[str, RemoteState]
    ) -> tuple[str, bool] | None:
        """The entry the store applies next, and whether it is a live one: the first pending
        entry of the page (the position of each id's last state), after what it waits for (its
        parent, the entry that moves the item holding its name, the delete that frees it), as
        the store's walk goes. Of two arrivals on one name the first takes it."""
        for start in pending:
            path: list[str] = []
            item_id = start
            while item_id in pending and item_id not in path:
                verdict = pending[item_id]
                if verdict is None:
                    return item_id, True
                if isinstance(verdict, Goes):
                    return verdict.id, False
                path.append(item_id)
                parent = lives[item_id].parent_id
                if isinstance(verdict, Moves):
                    item_id = self.items[verdict.ino].remote_id or ""
                elif parent is not None and parent in pending:
                    item_id = parent
                else:
                    break  # a folder moved under its own subtree waits for the rest of the page
        return None

    def _trading_names(self, verdicts: Mapping[str, Verdict]) -> list[str]:
        """Entries that wait only for each other's names (a swap, a rotation)."""
        waits = {
            i: self.items[v.ino].remote_id for i, v in verdicts.items() if isinstance(v, Moves)
        }
        while True:
            loose = [i for i, w in waits.items() if w not in waits]
            if not loose:
                return sorted(waits)
            for item_id in loose:
                del waits[item_id]

    def _chain(self, ino: int, top: int) -> list[int]:
        chain = [ino]
        while chain[-1] != top:
            parent = self.items[chain[-1]].parent
            assert parent is not None
            chain.append(parent)
        return chain

    def arrives_live(self, row: Item | None, entry: RemoteState, writers: frozenset[int]) -> bool:
        if row is None or row.live:
            return True
        payload = RemoteChanged(remote=entry, writers=row.ino in writers)
        target = MACHINE.resolve(row.state, payload.EVENT, _Guards(self, row, payload)).target
        return target not in ("DELETED_LOCAL", "REMOVED")

    def _tentatively(self, entry: Entry, writers: frozenset[int], *, check_names: bool) -> None:
        """Apply one entry as a savepoint: on failure nothing of it stays and it is held."""
        saved = copy.deepcopy((self.items, self.next_ino, self.journal, self.gens, self.appeared))
        try:
            self._apply(entry, writers, check_names=check_names)
        except (InvalidTransition, InvalidPlacement, NameTaken, UnknownItem, Hold) as refused:
            self.items, self.next_ino, self.journal, self.gens, self.appeared = saved
            self.held[entry.id] = entry
            self.hold_reasons[entry.id] = type(refused).__name__

    def _apply(self, entry: Entry, writers: frozenset[int], *, check_names: bool) -> None:
        row = self.ino_of(entry.id)
        if isinstance(entry, RemoteDeletion):
            if row is not None:
                self.fire(row, RemoteDeleted(writers=row in writers))
            return
        parent = self.ino_of(entry.parent_id)
        item = None if row is None else self.items[row]
        if (
            check_names
            and parent is not None
            and not (item is not None and item.moving_locally())
            and self.arrives_live(item, entry, writers)
        ):
            occupant = self.live_at(parent, entry.name, row)
            if occupant is not None:
                if not occupant.placed_locally():
                    raise Hold(entry.id)
                self.fire(occupant.ino, NameCollided(arrival=entry))
                if row is None and self.ino_of(entry.id) is not None:
                    return  # our own create, echoed: the local item is the arrival
        now = self.ino_of(entry.id)
        if now is None:
            self.fire(None, RemoteAppeared(remote=entry))
            return
        was_tombstone = item is not None and not item.live and item.moving_locally()
        self.fire(now, RemoteChanged(remote=entry, writers=now in writers))
        # A tombstone back at the name of its pending move, which may be taken meanwhile: the
        # one that comes back gives way (delta.py, ``_come_back_aside``).
        back = self.items.get(now)
        if (
            was_tombstone
            and back is not None
            and back.live
            and back.parent is not None
            and self.live_at(back.parent, back.name, back.ino) is not None
        ):
            self.fire(now, NameCollided(arrival=entry))

    def number_appeared(self, numbered: dict[str, int]) -> None:
        """Give the rows this page created the inodes the store gave them (any order of the
        page may number them): the model checks they are the next ones, never reused."""
        assert set(numbered) == set(self.appeared), (numbered, self.appeared)
        expected = set(range(self.next_ino + 1, self.next_ino + 1 + len(numbered)))
        assert set(numbered.values()) == expected, (numbered, self.next_ino)
        rename = {self.appeared[i]: ino for i, ino in numbered.items()}
        self.next_ino += len(numbered)
        self.items = {rename.get(i, i): item for i, item in self.items.items()}
        for item in self.items.values():
            item.ino = rename.get(item.ino, item.ino)
            item.parent = rename.get(item.parent or 0, item.parent)
            item.remote_parent = rename.get(item.remote_parent or 0, item.remote_parent)
        self.journal = Counter({(rename.get(i, i), e): n for (i, e), n in self.journal.items()})
        self.appeared = {}


def _check_declared(effect: str, item: Item) -> None:
    """The effect's concrete meaning agrees with the abstract fields it declares."""
    actual = {
        "exists_remotely": item.remote_id is not None,
        "content_cached": item.cached is not None,
        "remote_version_kept": item.kept is not None,
    }
    for name, value in SPEC.effects[effect].sets.items():
        if name in actual:
            assert actual[name] == value, f"{effect} declares {name}={value}; the model: {actual}"


@dataclass
class ServerItem:
    id: str
    name: str
    parent: str | None
    kind: Kind
    hash: str | None
    ctag: str | None
    etag: str
    size: int
    mtime: float

    def state(self) -> RemoteState:
        return RemoteState(
            id=self.id,
            name=self.name,
            parent_id=self.parent,
            kind=self.kind,
            etag=self.etag,
            ctag=self.ctag,
            hash=self.hash,
            size=self.size,
            mtime=self.mtime,
        )


@dataclass
class Server:
    """The drive as the server holds it, and its change log (what delta reports, in order)."""

    items: dict[str, ServerItem]
    log: list[Entry] = field(default_factory=list)
    serial: int = 0

    @classmethod
    def with_root(cls, root: RemoteState) -> Server:
        assert root.etag is not None
        item = ServerItem(root.id, root.name, None, "folder", None, None, root.etag, 0, 1000.0)
        return cls({root.id: item})

    def _next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def _changed(self, item_id: str) -> None:
        found = self.items.get(item_id)
        self.log.append(RemoteDeletion(id=item_id) if found is None else found.state())

    def free(self, parent: str, name: str, besides: str | None = None) -> bool:
        return not any(
            s.parent == parent and key(s.name) == key(name) and s.id != besides
            for s in self.items.values()
        )

    def subtree(self, item_id: str) -> list[str]:
        found = [s.id for s in self.items.values() if s.parent == item_id]
        return [d for c in found for d in self.subtree(c)] + found

    def folders(self) -> list[str]:
        return sorted(s.id for s in self.items.values() if s.kind == "folder")

    def create(
        self,
        parent: str,
        name: str,
        kind: Kind,
        hash: str | None,
        size: int,
        mtime: float,
    ) -> ServerItem:
        assert self.free(parent, name)
        folder = kind == "folder"
        item = ServerItem(
            self._next("s"),
            name,
            parent,
            kind,
            None if folder else hash,
            None if folder else self._next("c"),
            self._next("e"),
            0 if folder else size,
            mtime,
        )
        self.items[item.id] = item
        self._changed(item.id)
        return item

    def move(self, item_id: str, parent: str, name: str, mtime: float | None) -> ServerItem:
        """PATCH of name, parent and ``fileSystemInfo`` (the times a utime gave)."""
        assert self.free(parent, name, item_id) and parent not in (item_id, *self.subtree(item_id))
        item = self.items[item_id]
        item.parent, item.name, item.etag = parent, name, self._next("e")
        if mtime is not None:
            item.mtime = mtime
        self._changed(item_id)
        return item

    def write(
        self,
        item_id: str,
        hash: str | None,
        size: int,
        mtime: float,
    ) -> ServerItem:
        item = self.items[item_id]
        item.hash, item.size, item.mtime = hash, size, mtime
        item.ctag, item.etag = self._next("c"), self._next("e")
        self._changed(item_id)
        return item

    def delete(self, item_id: str) -> None:
        for gone in [*self.subtree(item_id), item_id]:
            del self.items[gone]
            self._changed(gone)

    def page(self, start: int, end: int) -> list[Entry]:
        """Each id whose latest change lies in ``[start, end)`` of the log, in its latest state."""
        latest = {e.id: n for n, e in enumerate(self.log)}
        return [
            self.log[n] if e.id not in self.items else self.items[e.id].state()
            for n, e in enumerate(self.log)
            if latest[e.id] == n and start <= n < end
        ]

    def history(self, item_id: str) -> list[Entry]:
        return [e for e in self.log if e.id == item_id]
