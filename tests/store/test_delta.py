"""delta.ingest: a page as Graph sends it (any order, repeats, splits) gives one same tree."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from onemount.store import ROOT_INODE, StateManager
from onemount.store import queries as q
from onemount.store.delta import Entry, held_entries, ingest
from onemount.store.events import LocalRenamed, RemoteDeletion, RemoteState
from tests.store.builders import ROOT_ID, created, remote, root_state
from tests.store.conftest import fresh_manager

# A drive: folders A/B/C nested, files in each, and a folder moved and renamed.
TREE = [
    remote("A", "Alpha", kind="folder"),
    remote("B", "Beta", "A", kind="folder"),
    remote("C", "Gamma", "B", kind="folder"),
    remote("f1", "one.txt", "A"),
    remote("f2", "two.txt", "B"),
    remote("f3", "three.txt", "C"),
    remote("f4", "Four.TXT"),
    remote("f5", "five.txt", "C"),
]


def tree(manager: StateManager) -> dict[str, tuple[str | None, str]]:
    """Every live item as id -> (path, state)."""
    found = {}
    for ino, item_id, state in manager.conn.execute(
        "SELECT ino, item_id, state FROM items WHERE state <> 'DELETED_LOCAL'"
    ):
        found[str(item_id)] = (q.path_of(manager.conn, int(ino)), str(state))
    return found


def _fresh(tmp: str) -> StateManager:
    return fresh_manager(Path(tmp) / "m.db")


def expected() -> dict[str, tuple[str | None, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        manager = _fresh(tmp)
        ingest(manager, [root_state(), *TREE], cursor="c", writers=set())
        return tree(manager)


EXPECTED = expected()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pages=st.integers(1, 4), repeats=st.integers(0, 6))
def test_any_order_repeats_and_splits_give_the_same_tree(
    seed: int, pages: int, repeats: int
) -> None:
    rng = random.Random(seed)
    entries: list[Entry] = [*TREE, root_state()]
    entries += [rng.choice(TREE) for _ in range(repeats)]  # ancestors repeated, as Graph does
    rng.shuffle(entries)
    cuts = sorted(rng.sample(range(1, len(entries)), pages - 1)) if pages > 1 else []
    with tempfile.TemporaryDirectory() as tmp:
        manager = _fresh(tmp)
        start = 0
        for number, cut in enumerate([*cuts, len(entries)]):
            ingest(manager, entries[start:cut], cursor=f"c{number}", writers=set())
            start = cut
        assert tree(manager) == EXPECTED, f"seed {seed}"
        assert held_entries(manager.conn) == []


def test_the_same_page_twice_writes_nothing_the_second_time(manager: StateManager) -> None:
    ingest(manager, TREE, cursor="c1", writers=set())
    journal = manager.conn.execute("SELECT count(*) FROM journal").fetchone()
    again = ingest(manager, TREE, cursor="c2", writers=set())
    assert not any(f.written for f in again.fired)
    assert manager.conn.execute("SELECT count(*) FROM journal").fetchone() == journal
    assert q.kv(manager.conn, "delta_cursor") == "c2"


def test_children_moved_out_survive_their_folders_delete_in_the_same_page(
    manager: StateManager,
) -> None:
    ingest(manager, TREE, cursor="c1", writers=set())
    # the user moved three.txt to the root, then deleted Gamma; delete listed first
    page: list[Entry] = [RemoteDeletion(id="C"), remote("f3", "three.txt", ROOT_ID)]
    report = ingest(manager, page, cursor="c2", writers=set())
    assert q.resolve_path(manager.conn, "/three.txt") is not None
    assert q.resolve_path(manager.conn, "/Alpha/Beta/Gamma") is None
    assert "f5" not in tree(manager)  # went with its folder
    assert report.held == []


def test_a_held_entry_is_superseded_by_a_newer_one(manager: StateManager) -> None:
    ingest(manager, [remote("X", "x.txt", "nowhere")], cursor="c1", writers=set())
    assert [h[0] for h in held_entries(manager.conn)] == ["X"]
    ingest(manager, [remote("X", "x.txt", ROOT_ID)], cursor="c2", writers=set())
    assert held_entries(manager.conn) == []
    assert q.lookup(manager.conn, ROOT_INODE, "x.txt") is not None
    ingest(manager, [remote("Y", "y.txt", "nowhere")], cursor="c3", writers=set())
    ingest(manager, [RemoteDeletion(id="Y")], cursor="c4", writers=set())
    assert held_entries(manager.conn) == []  # a delete of what never arrived is nothing to hold


def test_a_name_taken_by_an_item_outside_the_page_waits_for_it(manager: StateManager) -> None:
    ingest(manager, [remote("A", "a.txt"), remote("B", "b.txt")], cursor="c1", writers=set())
    # page 1 of a walk: B renamed onto a.txt; A's rename away comes in page 2
    first = ingest(manager, [remote("B", "a.txt")], cursor="c2", writers=set())
    assert [h.id for h in first.held] == ["B"]
    assert q.lookup(manager.conn, ROOT_INODE, "b.txt") is not None
    ingest(manager, [remote("A", "c.txt")], cursor="c3", writers=set())
    names = {r["item_id"]: r["name"] for r in q.children(manager.conn, ROOT_INODE)}
    assert names == {"A": "c.txt", "B": "a.txt"}


def test_a_locally_renamed_item_meeting_an_arrival_on_its_new_name(manager: StateManager) -> None:
    ingest(manager, [remote("A", "a.txt")], cursor="c1", writers=set())
    a = q.lookup_ino(manager.conn, ROOT_INODE, "a.txt")
    assert a is not None
    manager.fire(a, LocalRenamed(parent=ROOT_INODE, name="report.txt"))
    ingest(manager, [remote("R", "Report.txt", hash="theirs")], cursor="c2", writers=set())
    ours = q.get(manager.conn, a)
    assert ours is not None and str(ours["name"]).startswith("report (conflict copy ")
    theirs = q.lookup(manager.conn, ROOT_INODE, "report.txt")
    assert theirs is not None and theirs["item_id"] == "R"
    moves = manager.conn.execute(
        "SELECT count(*) FROM intents WHERE ino = ? AND kind = 'move'", (a,)
    )
    assert moves.fetchone() == (1,)  # the move now carries the conflict name


def test_fired_placements_say_what_the_kernel_must_forget(manager: StateManager) -> None:
    ingest(manager, TREE, cursor="c1", writers=set())
    report = ingest(manager, [remote("f4", "renamed.txt", "A")], cursor="c2", writers=set())
    (moved,) = report.fired
    alpha = q.lookup_ino(manager.conn, ROOT_INODE, "Alpha")
    assert (moved.parent_before, moved.name_before) == (ROOT_INODE, "Four.TXT")
    assert (moved.parent_after, moved.name_after) == (alpha, "renamed.txt")


def test_a_folder_echo_of_our_mkdir_is_adopted(manager: StateManager) -> None:
    mine = manager.fire(None, created("Projects", kind="folder"))
    report = ingest(manager, [remote("P", "projects", kind="folder")], cursor="c", writers=set())
    row = q.get(manager.conn, mine.ino)
    assert row is not None and (row["remote_id"], row["state"]) == ("P", "HYDRATED")
    assert report.collisions == 1 and len(q.children(manager.conn, ROOT_INODE)) == 1


def _known_folder_onto_ours(manager: StateManager, children: list[RemoteState]) -> int:
    """The server's ``/draft`` (with ``children``) moves onto the user's new ``/A/draft``."""
    folders = [remote("A", "A", kind="folder"), remote("D", "draft", kind="folder")]
    ingest(manager, [*folders, *children], cursor="1", writers=set())
    a = q.resolve_path(manager.conn, "/A")
    assert a is not None
    return manager.fire(None, created("draft", a, kind="folder")).ino


def test_a_merged_folders_child_arrives_on_our_child_of_the_same_name(
    manager: StateManager,
) -> None:
    ours = _known_folder_onto_ours(manager, [remote("x", "notes.txt", "D", hash="theirs")])
    mine = manager.fire(None, created("Notes.txt", ours, size=3))
    report = ingest(manager, [remote("D", "draft", "A", kind="folder")], cursor="2", writers=set())
    assert q.kv(manager.conn, "delta_cursor") == "2"
    # What the kernel must forget: the old folder, its child's old entry, our file's name.
    moves = {(f.event, f.item_id): (f.name_before, f.parent_after) for f in report.fired}
    assert moves[("remote_deleted", "D")] == ("draft", None)
    assert moves[("handed_over", "x")] == ("notes.txt", ours)
    assert moves[("name_collided", mine.item_id)] == ("Notes.txt", ours)
    theirs = q.lookup(manager.conn, ours, "notes.txt")
    assert theirs is not None and theirs["item_id"] == "x"
    aside = q.get(manager.conn, mine.ino)  # the user's bytes, under a conflict name
    assert aside is not None and aside["state"] == "DIRTY_LOCAL"
    assert str(aside["name"]).startswith("Notes (conflict copy ")


def test_folders_merge_all_the_way_down(manager: StateManager) -> None:
    server = [remote("S", "sub", "D", kind="folder"), remote("y", "y.txt", "S")]
    ours = _known_folder_onto_ours(manager, server)
    sub = manager.fire(None, created("sub", ours, kind="folder")).ino
    ingest(manager, [remote("D", "draft", "A", kind="folder")], cursor="2", writers=set())
    row = q.get(manager.conn, sub)
    assert row is not None and (row["remote_id"], row["state"]) == ("S", "HYDRATED")
    assert q.resolve_path(manager.conn, "/A/draft/sub/y.txt") is not None
    assert held_entries(manager.conn) == []


def test_a_folder_deleted_there_comes_back_for_an_item_moved_into_it(
    manager: StateManager,
) -> None:
    """Found by the system model's long tier (tests/model/regressions/test_found.py): the move
    into the folder is not sent when the folder's delete arrives; the server still has the
    moved item (and what it holds) where it was, so the folder must come back to hold it."""
    ingest(
        manager,
        [
            remote("F", "B", kind="folder"),
            remote("X", "x", kind="folder"),
            remote("c", "c.txt", "X"),
        ],
        cursor="1",
        writers=set(),
    )
    folder = q.resolve_path(manager.conn, "/B")
    moved = q.resolve_path(manager.conn, "/x")
    assert folder is not None and moved is not None
    manager.fire(moved, LocalRenamed(parent=folder, name="x"))
    ingest(manager, [RemoteDeletion(id="F")], cursor="2", writers=set())
    back = q.get(manager.conn, folder)
    assert back is not None and (back["state"], back["remote_id"]) == ("DIRTY_LOCAL", None)
    assert q.resolve_path(manager.conn, "/B/x/c.txt") is not None
    kinds = manager.conn.execute(
        "SELECT ino, kind FROM intents WHERE ino IN (?, ?) ORDER BY ino", (folder, moved)
    ).fetchall()
    assert kinds == [(folder, "mkdir"), (moved, "move")]
