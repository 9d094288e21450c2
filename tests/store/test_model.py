"""Hypothesis stateful test: the store against a plain Python model of its rows.

The model keeps its own dict of items and learns from the spec only what a reader of it would:
the compiled table says which transition an event takes (from guards the model computes from
its own fields) and each effect's declared ``sets`` says how the abstract fields change. After
every step (single fires, batches, pin changes, close-and-reopen) the store and the model agree
on every item's inode and state, its pending intents and the journal's length.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from onemount.statemachine import InvalidTransition, compiled, default_spec
from onemount.store import ROOT_INODE, Event, StateManager

SPEC = default_spec("item")
MACHINE = compiled("item")
EVENTS = sorted(
    e for e in MACHINE.events if e not in ("remote_appeared", "local_created", "virtual_created")
)
INTENT_FLAGS = {
    "pending_upload": "upload",
    "pending_mkdir": "mkdir",
    "pending_move": "move",
    "pending_delete": "delete",
}
_CTAG_FROM_CONTEXT = {"mark_remote", "refresh_remote_metadata", "adopt_uploaded_version"}


@dataclass
class Item:
    state: str
    folder: bool
    parent: int | None
    remote: bool
    local_changes: bool = False
    pinned: bool = False
    ctag: str | None = None
    kept_ctag: str | None = None
    intents: set[str] = field(default_factory=set)


@dataclass
class Model:
    items: dict[int, Item]
    next_ino: int = 2
    journal: int = 1

    def descendants(self, ino: int) -> list[int]:
        found = [i for i, m in self.items.items() if m.parent == ino]
        return found + [d for child in found for d in self.descendants(child)]

    def guards(self, ino: int | None, context: dict[str, Any]) -> dict[str, bool]:
        if ino is None:
            return {"is_directory": context["kind"] == "folder"}
        m = self.items[ino]
        return {
            "is_directory": m.folder,
            "is_virtual": False,
            "pinned": m.pinned,
            "has_local_changes": m.local_changes,
            "has_open_handles": False,
            "content_changed": not m.folder and context.get("ctag", m.ctag) != m.ctag,
            "exists_remotely": m.remote,
            "changed_during_upload": False,
            "has_unsent_descendants": m.folder
            and any(self.items[d].local_changes for d in self.descendants(ino)),
        }

    def apply(self, ino: int | None, event: str, context: dict[str, Any]) -> int:
        """Apply one event as the spec declares it; raises InvalidTransition like the store."""
        source = "ABSENT" if ino is None else self.items[ino].state
        transition = MACHINE.resolve(source, event, self.guards(ino, context))
        if ino is None:
            ino = self.next_ino
            self.next_ino += 1
            self.items[ino] = Item("ABSENT", context["kind"] == "folder", context["parent"], False)
        m = self.items[ino]
        for effect in transition.effects:
            sets = SPEC.effects[effect].sets
            m.local_changes = sets.get("has_local_changes", m.local_changes)
            m.remote = sets.get("exists_remotely", m.remote)
            for flag, kind in INTENT_FLAGS.items():
                if flag in sets:
                    (m.intents.add if sets[flag] else m.intents.discard)(kind)
            if effect in _CTAG_FROM_CONTEXT:
                m.ctag = context.get("ctag", m.ctag)
            elif effect == "keep_remote_version":
                m.kept_ctag = context.get("ctag")
            elif effect == "adopt_remote_version":
                m.ctag = m.kept_ctag or m.ctag
            elif effect == "forget_remote_identity":
                m.ctag = None
            elif effect == "fork_conflict_copy":
                self.items[self.next_ino] = Item(
                    "DIRTY_LOCAL", False, m.parent, False, True, intents={"upload"}
                )
                self.next_ino += 1
                self.journal += 1
        m.state = transition.target
        self.journal += 1
        if m.state == "REMOVED":
            gone = [*self.descendants(ino), ino]
            self.journal += len(gone) - 1  # each purged descendant is journaled too
            for removed in gone:
                del self.items[removed]
        return ino


class _Interrupted(BaseException):
    """Stands for a crash or a cancellation in the middle of a batch."""


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "metadata_v2.db"
        self.store = StateManager.open(self.path)
        self.store.fire("root", "remote_appeared", root=True, kind="folder")
        self.model = Model({ROOT_INODE: Item("HYDRATED", True, None, True)})
        self.serial = itertools.count()

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    def _context(self, data: st.DataObject, creating: bool) -> dict[str, Any]:
        n = next(self.serial)
        context: dict[str, Any] = {
            "name": f"n{n}",
            "ctag": data.draw(st.sampled_from(["c1", "c2"])),
            "remote_id": f"r{n}",
        }
        if creating:
            folders = sorted(
                i for i, m in self.model.items.items() if m.folder and m.state != "DELETED_LOCAL"
            )
            context["parent"] = data.draw(st.sampled_from(folders))
            context["kind"] = data.draw(st.sampled_from(["file", "folder"]))
        return context

    def _event(
        self, data: st.DataObject
    ) -> tuple[int | str | None, int | None, str, dict[str, Any]]:
        """(store reference, model inode, event, context) for a random creation or event."""
        if data.draw(st.integers(0, 3)) == 0 or len(self.model.items) == 1:
            context = self._context(data, creating=True)
            event = data.draw(st.sampled_from(["remote_appeared", "local_created"]))
            ref = context["remote_id"] if event == "remote_appeared" else None
            return ref, None, event, context
        ino = data.draw(st.sampled_from(sorted(i for i in self.model.items if i != ROOT_INODE)))
        return ino, ino, data.draw(st.sampled_from(EVENTS)), self._context(data, creating=False)

    @rule(data=st.data())
    def fire(self, data: st.DataObject) -> None:
        ref, ino, event, context = self._event(data)
        expected = copy.deepcopy(self.model)
        try:
            expected.apply(ino, event, context)
        except InvalidTransition:
            with pytest.raises(InvalidTransition):
                self.store.fire(ref, event, **context)
            return
        self.store.fire(ref, event, **context)
        self.model = expected

    @rule(data=st.data(), size=st.integers(1, 6))
    def batch(self, data: st.DataObject, size: int) -> None:
        expected = copy.deepcopy(self.model)
        events: list[Event] = []
        refused = False
        for _ in range(size):
            saved, self.model = self.model, expected  # draw items from the evolving model
            ref, ino, event, context = self._event(data)
            self.model = saved
            events.append(Event(ref, event, context))
            try:
                expected.apply(ino, event, context)
            except InvalidTransition:
                refused = True
                break
        if refused:
            with pytest.raises(InvalidTransition):
                self.store.fire_batch(events, delta_cursor="never")
            return
        self.store.fire_batch(events, delta_cursor=f"c{len(events)}")
        self.model = expected

    @precondition(lambda self: len(self.model.items) > 1)
    @rule(data=st.data())
    def pin(self, data: st.DataObject) -> None:
        ino = data.draw(st.sampled_from(sorted(self.model.items)))
        self.model.items[ino].pinned = not self.model.items[ino].pinned
        self.store.set_pinned(ino, self.model.items[ino].pinned)

    @rule(data=st.data())
    def interrupted_batch(self, data: st.DataObject) -> None:
        """A batch cut short mid-page (as by a crash or a cancelled worker) leaves no trace."""
        ref, _, event, context = self._event(data)

        def page() -> Iterator[Event]:
            yield Event(ref, event, context)
            raise _Interrupted

        with pytest.raises((_Interrupted, InvalidTransition)):
            self.store.fire_batch(page(), delta_cursor="never")

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = StateManager.open(self.path)

    @invariant()
    def store_agrees_with_model(self) -> None:
        conn = self.store.conn
        rows = {
            ino: (state, bool(pinned))
            for ino, state, pinned in conn.execute("SELECT ino, state, pinned FROM items")
        }
        assert rows == {i: (m.state, m.pinned) for i, m in self.model.items.items()}
        intents: dict[int, set[str]] = {}
        for ino, kind in conn.execute("SELECT ino, kind FROM intents"):
            intents.setdefault(ino, set()).add(kind)
        assert intents == {i: m.intents for i, m in self.model.items.items() if m.intents}
        (journal,) = conn.execute("SELECT count(*) FROM journal").fetchone()
        assert journal == self.model.journal
        assert conn.execute("SELECT value FROM kv WHERE key = 'delta_cursor'").fetchone() != (
            "never",
        )


TestStoreModel = StoreMachine.TestCase
TestStoreModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestStoreModel = pytest.mark.model(TestStoreModel)
