"""Every transition of spec/item.yaml, fired on a real row: the effects do what ``sets`` says.

For each declared transition the test builds a row in the source state (and the outbox rows
that state implies) plus a typed payload, such that the store's own guard bindings, computed on
exactly that row and payload, select that transition; fires it; reads the abstract fields back
from the row and the outbox (per the sidecar's ``fields``) and checks them against the merged
``sets`` of the effects, the target state's invariants and the global invariants.

Realizing a valuation means choosing concrete hashes, tags, names and snapshot sequences; the
test then *asks the bindings* whether they read the intended values, and tries the next
valuation when not (an upload by id never reports a placement change, say), so a binding that
misreads its payload is caught as "no valid source row selects" that transition.
"""

from __future__ import annotations

import itertools
from typing import Any

import apsw
import pytest

from onemount.statemachine import TransitionSpec, default_spec
from onemount.store import ROOT_INODE, StateManager, item_bindings
from onemount.store.events import (
    PAYLOADS,
    DeleteConfirmed,
    DeleteRejected,
    Evict,
    HydrateCancelled,
    HydrateFailed,
    HydrateRequested,
    HydrateSucceeded,
    LocalCreated,
    LocalDeleted,
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
    RemoteState,
    ResolveKeepBoth,
    ResolveKeepLocal,
    ResolveKeepRemote,
    RetryRequested,
    UploadConflicted,
    UploadFailed,
    UploadSucceeded,
    VirtualCreated,
    WritersClosed,
)
from onemount.store.fields import abstract_fields
from onemount.store.item_bindings import GuardContext, Row
from onemount.store.queries import get
from onemount.store.schema import ITEM_COLUMNS
from tests.store.builders import ROOT_ID, failure

SPEC = default_spec("item")
GUARD_NAMES = sorted(SPEC.guards)
STORED = [t for t in SPEC.transitions if t.source != "ABSENT"]
CREATION = [t for t in SPEC.transitions if t.source == "ABSENT"]


def _insert(conn: apsw.Connection, row: Row) -> int:
    """Write a row directly: the test's way to stand in any state (the package has no such way)."""
    conn.execute("INSERT INTO fire_token VALUES (1)")
    columns = [c for c in ITEM_COLUMNS if c != "ino"]
    conn.execute(
        f"INSERT INTO items ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [row.get(c) for c in columns],
    )
    ino = conn.last_insert_rowid()
    conn.execute("DELETE FROM fire_token")
    return ino


def _intent(conn: apsw.Connection, ino: int, kind: str, snapshot: str | None = None) -> None:
    conn.execute(
        "INSERT INTO intents (ino, kind, created, next_attempt, snapshot_hash)"
        " VALUES (?, ?, 0, 0, ?)",
        (ino, kind, snapshot),
    )


def _cached(state: str, v: dict[str, bool]) -> bool:
    if v["is_virtual"]:
        return True
    if v["is_directory"]:
        return False
    return state in ("HYDRATED", "DIRTY_LOCAL", "CONFLICT") or (
        state == "ERROR" and v["has_local_changes"]
    )


def _moving(event: str, v: dict[str, bool]) -> bool:
    """The events that need a pending move (their ``requires``) get one."""
    return v["exists_remotely"] and event in ("name_collided", "move_succeeded")


def _seed(
    conn: apsw.Connection,
    t: TransitionSpec,
    v: dict[str, bool],
    name: str,
    parent: int = ROOT_INODE,
) -> int:
    """A row in ``t.source`` with the row-derived guards of ``v``, and its outbox rows."""
    state, remote = t.source, v["exists_remotely"]
    moving = _moving(t.event, v)
    row: Row = {
        "item_id": f"id-{name}" if remote else f"local:{name}",
        "remote_id": f"id-{name}" if remote else None,
        "parent_ino": parent,
        "name": name,
        "name_key": name.casefold(),
        "kind": "folder" if v["is_directory"] else "file",
        "state": state,
        "virtual": int(v["is_virtual"]),
        "size": 10,
        "etag": "e0" if remote else None,
        "ctag": "c0" if remote and not v["is_directory"] else None,
        "remote_hash": "h0" if remote and not v["is_directory"] else None,
        "cached_hash": (
            ("h0" if remote and not v["has_local_changes"] else "h-local")
            if _cached(state, v)
            else None
        ),
        "pinned": int(v["pinned"]),
        "pending_remote": int(not remote),
        "has_local_changes": int(v["has_local_changes"]),
        "local_change_seq": 3,
        "hydration_started": 1.0 if state == "HYDRATING" else None,
        "last_error": "boom" if state == "ERROR" else None,
        "conflict_remote_etag": "e1" if v["has_kept_remote_version"] else None,
        "conflict_remote_hash": "h1" if v["has_kept_remote_version"] else None,
        "remote_name": (f"{name}-old" if moving else name) if remote else None,
        "remote_name_key": (f"{name}-old" if moving else name).casefold() if remote else None,
        "remote_parent_ino": parent if remote else None,
        "created": 0.0,
        "updated": 0.0,
    }
    ino = _insert(conn, row)
    if state == "DIRTY_LOCAL":
        snapshot = ("h0" if not v["content_changed"] else "h-new") if v["is_upload_echo"] else None
        _intent(conn, ino, "mkdir" if v["is_directory"] else "upload", snapshot)
    if state == "DELETED_LOCAL":
        _intent(conn, ino, "delete")
    if moving:
        _intent(conn, ino, "move")
    if v["has_unsent_descendants"]:  # a new local file inside: only its flag is read
        child = f"{name}-child"
        child_ino = _insert(
            conn,
            {
                "item_id": f"local:{child}",
                "parent_ino": ino,
                "name": child,
                "name_key": child,
                "kind": "file",
                "state": "DIRTY_LOCAL",
                "cached_hash": "h-local",
                "has_local_changes": 1,
                "pending_remote": 1,
                "virtual": 0,
                "pinned": 0,
                "size": 0,
                "local_change_seq": 1,
                "created": 0.0,
                "updated": 0.0,
            },
        )
        _intent(conn, child_ino, "upload")
    return ino


def _remote(name: str, v: dict[str, bool], *, hash: str | None, **kw: Any) -> RemoteState:
    fields = {
        "id": f"id-{name}",
        "name": name,
        "parent_id": ROOT_ID,
        "kind": "folder" if v["is_directory"] else "file",
        "etag": "e-new",
        "ctag": None,
        "hash": hash,
        "size": 10,
        "mtime": 5.0,
    }
    fields.update(kw)
    return RemoteState(**fields)


def _payload(t: TransitionSpec, v: dict[str, bool], name: str) -> Payload:
    """The typed event that realizes ``v``'s event-derived guards for the row of ``_seed``."""
    file = not v["is_directory"]
    changed = v["content_changed"]
    if t.event == "remote_changed":
        digest = "h-new" if changed else "h0"
        if v["remote_matches_local"]:
            digest = "h-local"  # the bytes we hold, e.g. an upload whose reply was lost
        ctag = ("c-new" if changed else "c0") if file else None
        remote = _remote(name, v, hash=digest if file else None, ctag=ctag)
        return RemoteChanged(remote=remote, writers=v["has_writers"])
    placed = f"{name}-elsewhere" if v["attributes_changed_since_sent"] else name
    builders: dict[str, Payload] = {
        "hydrate_requested": HydrateRequested(),
        "hydrate_succeeded": HydrateSucceeded(
            cached_hash="h0" if v["hydration_current"] else "h-stale"
        ),
        "hydrate_failed": HydrateFailed(failure=failure()),
        "hydrate_cancelled": HydrateCancelled(),
        "local_modified": LocalModified(size=11, mtime=6.0, cached_hash=None),
        "local_overwritten": LocalOverwritten(size=0, mtime=6.0, cached_hash=None),
        "local_renamed": LocalRenamed(parent=ROOT_INODE, name=f"{name}-renamed"),
        "local_times_changed": LocalTimesChanged(mtime=7.5),
        "local_deleted": LocalDeleted(),
        "upload_succeeded": UploadSucceeded(
            remote=_remote(placed, v, hash="h-local" if file else None, id=f"id-{name}"),
            snapshot_seq=2 if v["changed_during_upload"] else 3,
            sent_mtime=None,
        ),
        "upload_failed": UploadFailed(failure=failure()),
        "upload_conflicted": UploadConflicted(
            remote=_remote(name, v, hash="h-theirs") if v["exists_remotely"] else None
        ),
        "remote_deleted": RemoteDeleted(writers=v["has_writers"]),
        "evict": Evict(open_handles=v["has_open_handles"]),
        "delete_confirmed": DeleteConfirmed(),
        "delete_rejected": DeleteRejected(failure=failure()),
        "resolve_keep_local": ResolveKeepLocal(),
        "resolve_keep_remote": ResolveKeepRemote(writers=v["has_writers"]),
        "resolve_keep_both": ResolveKeepBoth(writers=v["has_writers"]),
        "retry_requested": RetryRequested(),
        "name_collided": NameCollided(
            arrival=_remote(
                name,
                v,
                id="arrival",
                hash=("h-local" if v["matches_arrival"] else "h-theirs") if file else None,
            )
        ),
        "move_succeeded": MoveSucceeded(remote=_remote(placed, v, hash=None), sent_mtime=None),
        "writers_closed": WritersClosed(),
    }
    return builders[t.event]


def _valuation(**true: bool) -> dict[str, bool]:
    return {name: true.get(name, False) for name in GUARD_NAMES}


def _fits(state: str, event: str, v: dict[str, bool]) -> bool:
    fields = _abstract_of_seed(state, event, v)
    values = {**fields, **v}
    if not all(i(values) for i in (*SPEC.state_invariants[state], *SPEC.invariants)):
        return False
    return SPEC.events[event].requires(values)


def _abstract_of_seed(state: str, event: str, v: dict[str, bool]) -> dict[str, bool]:
    """The abstract fields :func:`_seed` gives the row (checked against the row after seeding)."""
    return {
        "content_cached": _cached(state, v),
        "pending_upload": state == "DIRTY_LOCAL" and not v["is_directory"],
        "pending_mkdir": state == "DIRTY_LOCAL" and v["is_directory"],
        "pending_move": _moving(event, v),
        "pending_delete": state == "DELETED_LOCAL",
        "hydration_active": state == "HYDRATING",
        "error_recorded": state == "ERROR",
        "remote_version_kept": v["has_kept_remote_version"],
    }


def _realized(conn: apsw.Connection, ino: int, payload: Payload, t: TransitionSpec) -> bool:
    """Whether the store's own bindings read the intended value of every guard ``t`` reads."""
    row = get(conn, ino)
    remote = getattr(payload, "remote", None) or getattr(payload, "arrival", None)
    parent = ROOT_INODE if isinstance(remote, RemoteState) else None
    ctx = GuardContext(conn, row, payload, parent)
    values = {name: item_bindings.GUARDS[name](ctx) for name in t.guard.names}
    return bool(t.guard(values))


def candidates(t: TransitionSpec) -> list[dict[str, bool]]:
    """Valuations that select ``t`` from a valid source row, items the server has first."""
    found = [
        dict(zip(GUARD_NAMES, values, strict=True))
        for values in itertools.product((False, True), repeat=len(GUARD_NAMES))
    ]
    found.sort(key=lambda v: (not v["exists_remotely"], sum(v.values())))
    return [
        v
        for v in found
        if all(c(v) for c in SPEC.constraints)
        and t.guard(v)
        and _fits(t.source, t.event, v)
        and (not v["has_unsent_descendants"] or t.event == "remote_deleted")
    ]


def expected_sets(transition: TransitionSpec) -> dict[str, bool]:
    merged: dict[str, bool] = {}
    for effect in transition.effects:
        merged.update(SPEC.effects[effect].sets)
    return merged


def check_row(manager: StateManager, ino: int, transition: TransitionSpec) -> None:
    row = get(manager.conn, ino)
    if transition.target == "REMOVED":
        assert row is None
        left = manager.conn.execute("SELECT count(*) FROM intents WHERE ino = ?", (ino,))
        assert left.fetchone() == (0,)
        return
    assert row is not None and row["state"] == transition.target
    fields = abstract_fields(manager.conn, row)
    for name, value in expected_sets(transition).items():
        assert fields[name] is value, f"{transition.label}: {name} should be {value}"
    for invariant in (*SPEC.state_invariants[transition.target], *SPEC.invariants):
        assert invariant(fields), f"{transition.label}: {invariant.source} fails after fire"


def test_every_event_has_its_payload_type() -> None:
    assert set(PAYLOADS) == set(SPEC.events) == SPEC.used_events


@pytest.mark.parametrize("transition", STORED, ids=lambda t: t.label)
def test_transition_sets_what_the_spec_declares(
    manager: StateManager, transition: TransitionSpec
) -> None:
    for attempt, v in enumerate(candidates(transition)):
        name = f"item-{transition.source}-{transition.index}-{attempt}"
        with manager.conn:
            ino = _seed(manager.conn, transition, v, name)
        payload = _payload(transition, v, name)
        if _realized(manager.conn, ino, payload, transition):
            break
    else:
        raise AssertionError(f"no valid source row selects {transition.label}")
    seeded = get(manager.conn, ino)
    assert seeded is not None
    before = abstract_fields(manager.conn, seeded)
    assert before == {**before, **_abstract_of_seed(transition.source, transition.event, v)}
    for invariant in (*SPEC.state_invariants[transition.source], *SPEC.invariants):
        assert invariant(before), f"seeded {transition.source} row breaks {invariant.source}"
    fired = manager.fire(ino, payload)
    assert (fired.source, fired.target) == (transition.source, transition.target)
    check_row(manager, ino, transition)
    if fired.written:
        last = manager.conn.execute(
            "SELECT from_state, event, to_state FROM journal WHERE ino = ?"
            " ORDER BY seq DESC LIMIT 1",
            (ino,),
        ).fetchone()
        assert last == (transition.source, transition.event, transition.target)


@pytest.mark.parametrize("transition", CREATION, ids=lambda t: t.label)
def test_creation_inserts_a_row_that_satisfies_the_spec(
    manager: StateManager, transition: TransitionSpec
) -> None:
    folder = transition.guard({"is_directory": True})
    name = f"new {transition.index}"
    kind = "folder" if folder else "file"
    payload: Payload
    if transition.event == "remote_appeared":
        remote = RemoteState(
            id=f"remote-{transition.index}",
            name=name,
            parent_id=ROOT_ID,
            kind=kind,
            etag="e",
            ctag=None,
            hash=None,
            size=0,
            mtime=None,
        )
        payload = RemoteAppeared(remote=remote)
    elif transition.event == "local_created":
        payload = LocalCreated(
            parent=ROOT_INODE, name=name, kind=kind, size=0, mtime=1.0, mode=None
        )
    else:
        payload = VirtualCreated(parent=ROOT_INODE, name=name, size=0, mtime=1.0)
    fired = manager.fire(None, payload)
    assert fired.target == transition.target
    check_row(manager, fired.ino, transition)
