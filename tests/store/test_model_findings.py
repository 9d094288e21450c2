"""Store bugs the model test (test_model.py) found, each as the smallest story that shows it.

The first four are fixed and stay as regression tests. A bug still open is a strict xfail: it
fails the suite the day the store is fixed, so that the marker goes, and with it the detour the
state machine takes around the bug (``test_model.KNOWN_BUGS``) so that it keeps looking for
others meanwhile.
"""

from __future__ import annotations

import pytest

from onemount.store import ROOT_INODE, JobGone, JobReport, Snapshot, StateManager
from onemount.store import queries as q
from onemount.store.delta import held_entries, ingest
from onemount.store.events import LocalDeleted, LocalRenamed, UploadSucceeded
from tests.store.builders import created, remote


def _intent(manager: StateManager, ino: int) -> int:
    (found,) = manager.conn.execute("SELECT id FROM intents WHERE ino = ?", (ino,)).fetchall()
    return int(found[0])  # type: ignore[arg-type]


def test_a_late_job_outcome_never_lands_on_another_items_job(manager: StateManager) -> None:
    first = manager.fire(None, created("x.txt", size=1))
    sent = _intent(manager, first.ino)
    manager.start_job(sent, Snapshot(seq=1, hash="hx", size=1))
    manager.fire(first.ino, LocalDeleted())  # the user deleted it meanwhile: the job goes
    other = manager.fire(None, created("y.txt", size=2))
    manager.start_job(_intent(manager, other.ino), Snapshot(seq=1, hash="hy", size=2))
    reply = UploadSucceeded(remote=remote("S1", "x.txt", hash="hx", size=1), snapshot_seq=1)
    with pytest.raises(JobGone):
        manager.finish_job(sent, JobReport("succeeded"), reply)
    row = q.get(manager.conn, other.ino)
    assert row is not None and (row["state"], row["remote_id"]) == ("DIRTY_LOCAL", None)


def test_a_folder_moved_under_its_child_before_the_child_moves_out_is_held(
    manager: StateManager,
) -> None:
    ingest(
        manager,
        [remote("A", "A", kind="folder"), remote("B", "B", "A", kind="folder")],
        cursor="1",
        writers=set(),
    )
    # The server moved B to the root, then A under B; Graph pages A's move first.
    ingest(manager, [remote("A", "A", "B", kind="folder")], cursor="2", writers=set())
    assert [h[0] for h in held_entries(manager.conn)] == ["A"]
    ingest(manager, [remote("B", "B", kind="folder")], cursor="3", writers=set())
    assert q.path_of(manager.conn, q.resolve_path(manager.conn, "/B/A") or 0) == "/B/A"
    assert held_entries(manager.conn) == []


def test_a_tombstone_seen_again_in_delta_leaves_the_new_local_file_alone(
    manager: StateManager,
) -> None:
    page = [remote("s", "notes.txt")]
    ingest(manager, page, cursor="1", writers=set())
    old = q.lookup_ino(manager.conn, ROOT_INODE, "notes.txt")
    assert old is not None
    manager.fire(old, LocalDeleted())  # an editor's save: delete, then create the same name
    new = manager.fire(None, created("Notes.txt"))
    ingest(manager, page, cursor="2", writers=set())  # the same entry again (an older cursor)
    row = q.get(manager.conn, new.ino)
    assert row is not None and row["name"] == "Notes.txt"


def test_a_long_name_moved_aside_still_fits_in_a_file_name(manager: StateManager) -> None:
    long = "r" * 240 + ".txt"
    mine = manager.fire(None, created(long))
    ingest(manager, [remote("theirs", long, hash="other")], cursor="1", writers=set())
    row = q.get(manager.conn, mine.ino)
    assert row is not None and row["name"] != long
    assert len(row["name"].encode()) <= 255 and row["name"].endswith(".txt")


@pytest.mark.xfail(
    strict=True,
    reason="store bug: a known folder moved onto a new local folder's name is taken for our"
    " mkdir's echo; its row leaves through remote_deleted and purges its children, which the"
    " server still has",
)
def test_a_known_folder_moved_onto_a_new_local_folder_keeps_its_children(
    manager: StateManager,
) -> None:
    ingest(
        manager,
        [
            remote("s1", "draft", kind="folder"),
            remote("s3", "Caf\u00e9", "s1", kind="folder"),
            remote("s5", "A", kind="folder"),
        ],
        cursor="1",
        writers=set(),
    )
    a = q.resolve_path(manager.conn, "/A")
    assert a is not None
    manager.fire(None, created("draft", a, kind="folder"))  # the user's own, not sent yet
    ingest(manager, [remote("s1", "draft", "s5", kind="folder")], cursor="2", writers=set())
    assert q.resolve_path(manager.conn, "/A/draft/Caf\u00e9") is not None


@pytest.mark.xfail(
    strict=True,
    reason="store bug: an item renamed then deleted here comes back (a remote edit wins) at its"
    " pending local name, where the user made a new file: the page is refused (NameTaken)",
)
def test_a_remote_edit_brings_back_a_renamed_deleted_item_beside_its_new_namesake(
    manager: StateManager,
) -> None:
    ingest(manager, [remote("s", "a.txt")], cursor="1", writers=set())
    back = q.lookup_ino(manager.conn, ROOT_INODE, "a.txt")
    assert back is not None
    manager.fire(back, LocalRenamed(parent=ROOT_INODE, name="b.txt"))
    manager.fire(back, LocalDeleted())
    new = manager.fire(None, created("b.txt"))
    ingest(manager, [remote("s", "a.txt", ctag="c2", hash="h2")], cursor="2", writers=set())
    assert q.kv(manager.conn, "delta_cursor") == "2"  # the page was not refused
    rows = [q.get(manager.conn, ino) for ino in (back, new.ino)]
    assert [r and r["state"] for r in rows] == ["GHOST", "DIRTY_LOCAL"]
    assert len({r and r["name_key"] for r in rows}) == 2


@pytest.mark.xfail(
    strict=True,
    reason="store bug: an item renamed then deleted here comes back at its pending local name"
    " without clearing the way: an item arriving there earlier in the page refuses the page",
)
def test_a_renamed_deleted_item_comes_back_beside_an_arrival_of_its_page(
    manager: StateManager,
) -> None:
    ingest(manager, [remote("s", "a.txt")], cursor="1", writers=set())
    back = q.lookup_ino(manager.conn, ROOT_INODE, "a.txt")
    assert back is not None
    manager.fire(back, LocalRenamed(parent=ROOT_INODE, name="b.txt"))
    manager.fire(back, LocalDeleted())
    page = [remote("t", "b.txt"), remote("s", "a.txt", ctag="c2", hash="h2")]
    ingest(manager, page, cursor="2", writers=set())
    assert q.kv(manager.conn, "delta_cursor") == "2"  # the page was not refused
    assert q.lookup(manager.conn, ROOT_INODE, "b.txt") is not None
    found = q.get(manager.conn, back)
    assert found is not None and found["state"] == "GHOST"
