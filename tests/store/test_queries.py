"""What the FUSE layer and the engine read: lookups, listings, paths, inodes and intents."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from onemount.store import ROOT_INODE, Event, InvalidPlacement, StateManager
from onemount.store import queries as q
from onemount.store.db import open_reader
from onemount.store.names import InvalidName
from tests.store.conftest import fresh_manager


def _pending(manager: StateManager, ino: int) -> list[str]:
    return [
        k
        for (k,) in manager.conn.execute(
            "SELECT kind FROM intents WHERE ino = ? ORDER BY kind", (ino,)
        )
    ]


def test_lookup_is_case_insensitive_and_unicode_normalized(manager: StateManager) -> None:
    fired = manager.fire("c", "remote_appeared", parent=1, name="Caf\u00e9 Notes.TXT")
    assert q.lookup_ino(manager.conn, ROOT_INODE, "cafe\u0301 notes.txt") == fired.ino
    assert q.lookup_ino(manager.conn, ROOT_INODE, "CAF\u00c9 NOTES.txt") == fired.ino
    assert q.lookup_ino(manager.conn, ROOT_INODE, "other") is None


def test_names_collide_case_insensitively_among_live_children(manager: StateManager) -> None:
    manager.fire("a", "remote_appeared", parent=1, name="Report.pdf")
    with pytest.raises(apsw.ConstraintError):
        manager.fire(None, "local_created", parent=1, name="REPORT.PDF")
    assert q.lookup(manager.conn, ROOT_INODE, "report.pdf") is not None


def test_a_tombstone_is_hidden_and_frees_its_name(manager: StateManager) -> None:
    old = manager.fire("a", "remote_appeared", parent=1, name="x.txt")
    manager.fire(old.ino, "local_deleted")
    assert q.lookup(manager.conn, ROOT_INODE, "x.txt") is None
    assert q.children(manager.conn, ROOT_INODE) == []
    new = manager.fire(None, "local_created", parent=1, name="X.txt")
    assert q.lookup_ino(manager.conn, ROOT_INODE, "x.txt") == new.ino != old.ino
    assert _pending(manager, old.ino) == ["delete"]


def test_children_page_by_inode_offset_and_list_pending_creations(manager: StateManager) -> None:
    made = manager.fire_batch(
        Event(f"id{i}", "remote_appeared", {"parent": 1, "name": f"n{i}"}) for i in range(25)
    )
    local = manager.fire(None, "local_created", parent=1, name="draft.md")
    seen: list[int] = []
    after = 0
    while page := q.children(manager.conn, ROOT_INODE, after=after, limit=10):
        seen.extend(r["ino"] for r in page)
        after = page[-1]["ino"]
    assert seen == [f.ino for f in made] + [local.ino]


def test_paths_come_from_the_parent_chain(manager: StateManager) -> None:
    docs = manager.fire("d", "remote_appeared", parent=1, name="Docs", kind="folder")
    deep = manager.fire("e", "remote_appeared", parent="d", name="a.txt")
    assert q.path_of(manager.conn, deep.ino) == "/Docs/a.txt"
    assert q.path_of(manager.conn, ROOT_INODE) == "/"
    assert q.resolve_path(manager.conn, "/docs/A.TXT") == deep.ino
    manager.fire("d", "remote_changed", name="Papers")
    assert q.path_of(manager.conn, deep.ino) == "/Papers/a.txt"
    assert q.resolve_path(manager.conn, "/Docs/a.txt") is None
    assert docs.ino != deep.ino


def test_inode_survives_rename_upload_id_exchange_and_restart(db_path: Path) -> None:
    manager = fresh_manager(db_path)
    local = manager.fire(None, "local_created", parent=1, name="new.txt")
    assert local.item_id.startswith("local:")
    manager.fire(local.ino, "upload_succeeded", remote_id="SERVER1", etag="e1")
    manager.fire("SERVER1", "local_renamed", name="renamed.txt")
    manager.close()
    reopened = StateManager.open(db_path)
    row = q.lookup(reopened.conn, ROOT_INODE, "renamed.txt")
    assert row is not None and (row["ino"], row["item_id"]) == (local.ino, "SERVER1")
    assert q.root(reopened.conn) is not None  # no network needed for the root
    assert q.get(reopened.conn, ROOT_INODE) is not None
    reopened.close()


def test_purged_inode_numbers_are_never_reused(manager: StateManager) -> None:
    first = manager.fire("a", "remote_appeared", parent=1, name="a")
    manager.fire("a", "remote_deleted")
    second = manager.fire("b", "remote_appeared", parent=1, name="b")
    assert second.ino > first.ino
    # the journal keeps the purged item's history
    assert manager.conn.execute(
        "SELECT count(*) FROM journal WHERE ino = ?", (first.ino,)
    ).fetchone() == (2,)


def test_intents_coalesce_per_item(manager: StateManager) -> None:
    fired = manager.fire("a", "remote_appeared", parent=1, name="a.txt")
    manager.fire(fired.ino, "local_overwritten", size=1)
    manager.fire(fired.ino, "local_modified", size=2)
    manager.fire(fired.ino, "local_modified", size=3)
    assert _pending(manager, fired.ino) == ["upload"]
    manager.fire(fired.ino, "local_renamed", name="b.txt")
    assert _pending(manager, fired.ino) == ["move", "upload"]
    # a never-uploaded item's rename folds into its pending upload
    new = manager.fire(None, "local_created", parent=1, name="n.txt")
    manager.fire(new.ino, "local_renamed", name="m.txt")
    assert _pending(manager, new.ino) == ["upload"]
    # a delete supersedes a pending move
    other = manager.fire("o", "remote_appeared", parent=1, name="o.txt")
    manager.fire(other.ino, "local_renamed", name="p.txt")
    assert _pending(manager, other.ino) == ["move"]
    manager.fire(other.ino, "local_deleted")
    assert _pending(manager, other.ino) == ["delete"]


def test_intents_due_oldest_first_and_upload_jobs_follow_their_spec(manager: StateManager) -> None:
    a = manager.fire(None, "local_created", parent=1, name="a")
    b = manager.fire(None, "local_created", parent=1, name="b", kind="folder")
    due = q.intents_due(manager.conn, now=2e12)
    assert [(d["ino"], d["kind"]) for d in due] == [(a.ino, "upload"), (b.ino, "mkdir")]
    job = int(str(due[0]["id"]))
    assert manager.fire_upload(job, "start") == "UPLOADING"
    assert manager.fire_upload(job, "transient_error", retry_after=3600) == "WAITING_RETRY"
    later = q.intents_due(
        manager.conn, now=manager.conn.execute("SELECT max(created) FROM intents").fetchone()[0] + 1
    )
    assert [d["ino"] for d in later] == [b.ino]


def test_delta_cursor_is_stored_with_its_page(manager: StateManager, db_path: Path) -> None:
    manager.fire_batch(
        [Event("a", "remote_appeared", {"parent": 1, "name": "a"})], delta_cursor="c7"
    )
    reader = open_reader(db_path)
    assert q.kv(reader, "delta_cursor") == "c7"
    assert q.lookup(reader, ROOT_INODE, "A") is not None
    reader.close()


def test_a_server_name_that_could_escape_is_refused(manager: StateManager) -> None:
    for bad in ("..", "a/b", ""):
        with pytest.raises(InvalidName):
            manager.fire("x", "remote_appeared", parent=1, name=bad)
    assert q.children(manager.conn, ROOT_INODE) == []


def test_items_by_state_and_xattrs(manager: StateManager) -> None:
    a = manager.fire("a", "remote_appeared", parent=1, name="a")
    b = manager.fire("b", "remote_appeared", parent=1, name="b")
    manager.fire(b.ino, "hydrate_requested")
    assert [r["ino"] for r in q.in_state(manager.conn, "GHOST")] == [a.ino]
    assert [r["ino"] for r in q.in_state(manager.conn, "HYDRATING")] == [b.ino]
    manager.set_xattr(a.ino, "user.color", b"red")
    manager.set_xattr(a.ino, "user.color", b"blue")
    assert q.xattrs(manager.conn, a.ino) == {"user.color": b"blue"}
    assert manager.remove_xattr(a.ino, "user.color") is True
    assert manager.remove_xattr(a.ino, "user.color") is False


def test_a_folder_cannot_move_into_its_own_subtree(manager: StateManager) -> None:
    outer = manager.fire("a", "remote_appeared", parent=1, name="a", kind="folder")
    inner = manager.fire("b", "remote_appeared", parent="a", name="b", kind="folder")
    with pytest.raises(InvalidPlacement, match="inside itself"):
        manager.fire(outer.ino, "remote_changed", parent=inner.ino)
    manager.fire("f", "remote_appeared", parent=1, name="f")
    with pytest.raises(InvalidPlacement, match="not a folder"):
        manager.fire("g", "remote_appeared", parent="f", name="g")
    assert q.path_of(manager.conn, inner.ino) == "/a/b"


def test_a_cycle_that_a_page_resolves_is_accepted(manager: StateManager) -> None:
    a = manager.fire("a", "remote_appeared", parent=1, name="a", kind="folder")
    b = manager.fire("b", "remote_appeared", parent="a", name="b", kind="folder")
    # the server moved b to the root and a under b; the page lists a first
    manager.fire_batch(
        [Event("a", "remote_changed", {"parent": "b"}), Event("b", "remote_changed", {"parent": 1})]
    )
    assert q.path_of(manager.conn, a.ino) == "/b/a"
    assert q.path_of(manager.conn, b.ino) == "/b"


def test_a_delta_snapshot_never_clobbers_unsent_local_size_and_mtime(manager: StateManager) -> None:
    item = manager.fire("a", "remote_appeared", parent=1, name="a", size=3, mtime=1.0, ctag="c")
    manager.fire(item.ino, "local_overwritten", size=5, mtime=2.0)
    manager.fire("a", "remote_changed", ctag="c", size=3, mtime=9.0, etag="e2", name="b")
    row = q.get(manager.conn, item.ino)
    assert row is not None
    assert (row["state"], row["size"], row["mtime"], row["etag"], row["name"]) == (
        "DIRTY_LOCAL",
        5,
        2.0,
        "e2",
        "b",
    )
