"""Every transition of spec/item.yaml, fired on a real row: the effects do what ``sets`` says.

For each declared transition the test builds a row in the source state whose guards select
that transition (a valuation allowed by the spec's constraints and the source state's
invariants), fires the event, reads the abstract fields back from the row and the outbox
(per the sidecar's ``fields``) and checks them against the merged ``sets`` of the effects, the
target state's invariants and the global invariants.
"""

from __future__ import annotations

import itertools
from typing import Any

import apsw
import pytest

from onemount.statemachine import TransitionSpec, default_spec
from onemount.store import ROOT_INODE, StateManager
from onemount.store.fields import abstract_fields
from onemount.store.item_bindings import Row
from onemount.store.queries import get
from onemount.store.schema import ITEM_COLUMNS

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


def _seed(
    conn: apsw.Connection, state: str, v: dict[str, bool], name: str, parent: int = ROOT_INODE
) -> tuple[int, dict[str, Any]]:
    """A row in ``state`` with guard valuation ``v``, and the fire context that realizes it."""
    remote = v["exists_remotely"]
    cached = state in ("HYDRATED", "DIRTY_LOCAL", "CONFLICT") and not v["is_directory"]
    cached = cached or v["is_virtual"] or (state == "ERROR" and v["has_local_changes"])
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
        "ctag": "c0" if remote else None,
        "remote_hash": "h0" if remote else None,
        "cached_hash": "h0" if cached else None,
        "pinned": int(v["pinned"]),
        "pending_remote": 0,
        "has_local_changes": int(v["has_local_changes"]),
        "local_change_seq": 3,
        "hydration_started": 1.0 if state == "HYDRATING" else None,
        "last_error": "boom" if state == "ERROR" else None,
        "conflict_remote_etag": "e1" if state == "CONFLICT" and remote else None,
        "created": 0.0,
        "updated": 0.0,
    }
    ino = _insert(conn, row)
    intents = {"DIRTY_LOCAL": "mkdir" if v["is_directory"] else "upload", "DELETED_LOCAL": "delete"}
    if state in intents:
        conn.execute(
            "INSERT INTO intents (ino, kind, created, next_attempt) VALUES (?, ?, 0, 0)",
            (ino, intents[state]),
        )
    if v["has_unsent_descendants"]:
        _seed(conn, "DIRTY_LOCAL", _valuation(has_local_changes=True), f"{name}-child", ino)
    context: dict[str, Any] = {
        "ctag": "c-new" if v["content_changed"] else "c0",
        "hash": "h-new" if v["content_changed"] else "h0",
        "etag": "e-new",
        "open_handles": v["has_open_handles"],
        "snapshot_seq": 2 if v["changed_during_upload"] else 3,
        "remote_id": f"id-{name}",
        "error": "failed for good",
    }
    return ino, context


def _valuation(**true: bool) -> dict[str, bool]:
    return {name: true.get(name, False) for name in GUARD_NAMES}


def _fits(state: str, v: dict[str, bool]) -> bool:
    fields = _abstract_of_seed(state, v)
    return all(i({**fields, **v}) for i in (*SPEC.state_invariants[state], *SPEC.invariants))


def _abstract_of_seed(state: str, v: dict[str, bool]) -> dict[str, bool]:
    """The abstract fields :func:`_seed` will give the row (mirrors it, checked after seeding)."""
    cached = state in ("HYDRATED", "DIRTY_LOCAL", "CONFLICT") and not v["is_directory"]
    return {
        "content_cached": cached
        or v["is_virtual"]
        or (state == "ERROR" and v["has_local_changes"]),
        "pending_upload": state == "DIRTY_LOCAL" and not v["is_directory"],
        "pending_mkdir": state == "DIRTY_LOCAL" and v["is_directory"],
        "pending_move": False,
        "pending_delete": state == "DELETED_LOCAL",
        "hydration_active": state == "HYDRATING",
        "error_recorded": state == "ERROR",
        "remote_version_kept": state == "CONFLICT" and v["exists_remotely"],
    }


def valuation_for(transition: TransitionSpec) -> dict[str, bool]:
    """The first guard valuation that selects ``transition`` from a valid source row."""
    # Prefer items the server has: every stored state but a few is reached with a remote id.
    candidates = [
        dict(zip(GUARD_NAMES, values, strict=True))
        for values in itertools.product((False, True), repeat=len(GUARD_NAMES))
    ]
    candidates.sort(key=lambda v: not v["exists_remotely"])
    for v in candidates:
        if not all(c(v) for c in SPEC.constraints) or not transition.guard(v):
            continue
        if v["has_unsent_descendants"] and transition.event != "remote_deleted":
            continue  # a dirty child is only needed where the guard reads it
        if _fits(transition.source, v):
            return v
    raise AssertionError(f"no valid source row selects {transition.label}")


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


@pytest.mark.parametrize("transition", STORED, ids=lambda t: t.label)
def test_transition_sets_what_the_spec_declares(
    manager: StateManager, transition: TransitionSpec
) -> None:
    v = valuation_for(transition)
    name = f"item-{transition.source}-{transition.index}"
    ino, context = _seed(manager.conn, transition.source, v, name)
    seeded = get(manager.conn, ino)
    assert seeded is not None
    before = abstract_fields(manager.conn, seeded)
    assert before == {**before, **_abstract_of_seed(transition.source, v)}
    for invariant in (*SPEC.state_invariants[transition.source], *SPEC.invariants):
        assert invariant(before), f"seeded {transition.source} row breaks {invariant.source}"
    fired = manager.fire(ino, transition.event, **context)
    assert (fired.source, fired.target) == (transition.source, transition.target)
    check_row(manager, ino, transition)
    last = manager.conn.execute(
        "SELECT from_state, event, to_state FROM journal WHERE ino = ? ORDER BY seq DESC LIMIT 1",
        (ino,),
    ).fetchone()
    assert last == (transition.source, transition.event, transition.target)


@pytest.mark.parametrize("transition", CREATION, ids=lambda t: t.label)
def test_creation_inserts_a_row_that_satisfies_the_spec(
    manager: StateManager, transition: TransitionSpec
) -> None:
    folder = transition.guard({"is_directory": True})
    item = f"remote-{transition.index}" if transition.event == "remote_appeared" else None
    fired = manager.fire(
        item,
        transition.event,
        parent=ROOT_INODE,
        name=f"new {transition.index}",
        kind="folder" if folder else "file",
    )
    assert fired.target == transition.target
    check_row(manager, fired.ino, transition)
