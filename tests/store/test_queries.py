"""What the FUSE layer and the engine read: lookups, listings, paths, inodes and intents."""

from __future__ import annotations

from pathlib import Path

import pytest

from onemount.store import ROOT_INODE, Event, InvalidPlacement, NameTaken, StateManager
from onemount.store import queries as q
from onemount.store.db import open_reader
from onemount.store.events import (
    HydrateRequested,
    LocalDeleted,
    LocalOverwritten,
    LocalRenamed,
    RemoteDeleted,
    UploadSucceeded,
)
from onemount.store.names import InvalidName
from onemount.store.outbox import ready_jobs
from tests.store.builders import appeared, changed, created, modified, remote
from tests.store.conftest import fresh_manager


def _pending(manager: StateManager, ino: int) -> list[str]:
    return [
        k
        for (k,) in manager.conn.execute(
            "SELECT kind FROM intents WHERE ino = ? ORDER BY kind", (ino,)
        )
    ]


def test_lookup_is_case_insensitive_and_unicode_normalized(manager: StateManager) -> None:
    fired = manager.fire(None, appeared("c", "Caf\u00e9 Notes.TXT"))
    assert q.lookup_ino(manager.conn, ROOT_INODE, "cafe\u0301 notes.txt") == fired.ino
    assert q.lookup_ino(manager.conn, ROOT_INODE, "CAF\u00c9 NOTES.txt") == fired.ino
    assert q.lookup_ino(manager.conn, ROOT_INODE, "other") is None


def test_names_collide_case_insensitively_among_live_children(manager: StateManager) -> None:
    manager.fire(None, appeared("a", "Report.pdf"))
    with pytest.raises(NameTaken):
        manager.fire(None, created("REPORT.PDF"))
    assert q.lookup(manager.conn, ROOT_INODE, "report.pdf") is not None
    assert len(q.children(manager.conn, ROOT_INODE)) == 1


def test_a_tombstone_is_hidden_and_frees_its_name(manager: StateManager) -> None:
    old = manager.fire(None, appeared("a", "x.txt"))
    manager.fire(old.ino, LocalDeleted())
    assert q.lookup(manager.conn, ROOT_INODE, "x.txt") is None
    assert q.children(manager.conn, ROOT_INODE) == []
    new = manager.fire(None, created("X.txt"))
    assert q.lookup_ino(manager.conn, ROOT_INODE, "x.txt") == new.ino != old.ino
    assert _pending(manager, old.ino) == ["delete"]


def test_children_page_by_inode_offset_and_list_pending_creations(manager: StateManager) -> None:
    made = manager.fire_batch(Event(None, appeared(f"id{i}", f"n{i}")) for i in range(25))
    local = manager.fire(None, created("draft.md"))
    seen: list[int] = []
    after = 0
    while page := q.children(manager.conn, ROOT_INODE, after=after, limit=10):
        seen.extend(r["ino"] for r in page)
        after = page[-1]["ino"]
    assert seen == [f.ino for f in made] + [local.ino]
    entries = q.entries(manager.conn, ROOT_INODE, after=made[-2].ino, limit=10)
    assert [(e.name, e.attrs.ino) for e in entries] == [
        ("n24", made[-1].ino),
        ("draft.md", local.ino),
    ]


def test_getattr_reads_a_narrow_record(manager: StateManager) -> None:
    fired = manager.fire(None, appeared("a", "a.txt", size=42, mtime=7.0))
    attrs = q.attrs(manager.conn, fired.ino)
    assert attrs is not None
    assert (attrs.ino, attrs.kind, attrs.size, attrs.mtime, attrs.state) == (
        fired.ino,
        "file",
        42,
        7.0,
        "GHOST",
    )
    assert q.lookup_attrs(manager.conn, ROOT_INODE, "A.TXT") == attrs
    assert q.attrs(manager.conn, 999) is None


def test_paths_come_from_the_parent_chain(manager: StateManager) -> None:
    docs = manager.fire(None, appeared("d", "Docs", kind="folder"))
    deep = manager.fire(None, appeared("e", "a.txt", "d"))
    assert q.path_of(manager.conn, deep.ino) == "/Docs/a.txt"
    assert q.path_of(manager.conn, ROOT_INODE) == "/"
    assert q.resolve_path(manager.conn, "/docs/A.TXT") == deep.ino
    manager.fire("d", changed("d", "Papers", kind="folder"))
    assert q.path_of(manager.conn, deep.ino) == "/Papers/a.txt"
    assert q.resolve_path(manager.conn, "/Docs/a.txt") is None
    assert docs.ino != deep.ino


def test_inode_survives_rename_upload_id_exchange_and_restart(db_path: Path) -> None:
    manager = fresh_manager(db_path)
    local = manager.fire(None, created("new.txt"))
    assert local.item_id.startswith("local:")
    manager.fire(
        local.ino,
        UploadSucceeded(
            remote=remote("SERVER1", "new.txt", hash=None), snapshot_seq=1, sent_mtime=None
        ),
    )
    manager.fire("SERVER1", LocalRenamed(parent=ROOT_INODE, name="renamed.txt"))
    manager.close()
    reopened = StateManager.open(db_path)
    row = q.lookup(reopened.conn, ROOT_INODE, "renamed.txt")
    assert row is not None and (row["ino"], row["item_id"]) == (local.ino, "SERVER1")
    assert q.root(reopened.conn) is not None  # no network needed for the root
    assert q.get(reopened.conn, ROOT_INODE) is not None
    reopened.close()


def test_purged_inode_numbers_are_never_reused(manager: StateManager) -> None:
    first = manager.fire(None, appeared("a", "a"))
    manager.fire("a", RemoteDeleted(writers=False))
    second = manager.fire(None, appeared("b", "b"))
    assert second.ino > first.ino
    # the journal keeps the purged item's history
    assert manager.conn.execute(
        "SELECT count(*) FROM journal WHERE ino = ?", (first.ino,)
    ).fetchone() == (2,)


def test_intents_coalesce_per_item(manager: StateManager) -> None:
    fired = manager.fire(None, appeared("a", "a.txt"))
    manager.fire(fired.ino, LocalOverwritten(size=1, mtime=1.0, cached_hash=None))
    manager.fire(fired.ino, modified(size=2))
    manager.fire(fired.ino, modified(size=3))
    assert _pending(manager, fired.ino) == ["upload"]
    manager.fire(fired.ino, LocalRenamed(parent=ROOT_INODE, name="b.txt"))
    assert _pending(manager, fired.ino) == ["move", "upload"]
    # a never-uploaded item's rename is carried by its create: no move
    new = manager.fire(None, created("n.txt"))
    manager.fire(new.ino, LocalRenamed(parent=ROOT_INODE, name="m.txt"))
    assert _pending(manager, new.ino) == ["upload"]
    # a pending move waits behind a delete (and goes if the delete is refused)
    other = manager.fire(None, appeared("o", "o.txt"))
    manager.fire(other.ino, LocalRenamed(parent=ROOT_INODE, name="p.txt"))
    assert _pending(manager, other.ino) == ["move"]
    manager.fire(other.ino, LocalDeleted())
    assert _pending(manager, other.ino) == ["delete", "move"]
    assert [j.kind for j in ready_jobs(manager.conn, 2e12) if j.ino == other.ino] == ["delete"]


def test_delta_cursor_is_stored_with_its_page(manager: StateManager, db_path: Path) -> None:
    manager.fire_batch([Event(None, appeared("a", "a"))], delta_cursor="c7")
    reader = open_reader(db_path)
    assert q.kv(reader, "delta_cursor") == "c7"
    assert q.lookup(reader, ROOT_INODE, "A") is not None
    reader.close()


def test_a_server_name_that_could_escape_is_refused(manager: StateManager) -> None:
    for bad in ("..", "a/b", "", "\u6f22" * 100):
        with pytest.raises(InvalidName):
            manager.fire(None, appeared("x", bad))
    assert q.children(manager.conn, ROOT_INODE) == []


def test_a_name_onedrive_forbids_is_refused_before_anything_is_queued(
    manager: StateManager,
) -> None:
    for bad in ("a:b.txt", "CON", "desktop.ini", "trailing.", " lead", "~$lock.docx"):
        with pytest.raises(InvalidName):
            manager.fire(None, created(bad))
    fine = manager.fire(None, created("fine.txt"))
    with pytest.raises(InvalidName):
        manager.fire(fine.ino, LocalRenamed(parent=ROOT_INODE, name="a|b"))
    assert [r["name"] for r in q.children(manager.conn, ROOT_INODE)] == ["fine.txt"]
    assert _pending(manager, fine.ino) == ["upload"]


def test_items_by_state_and_xattrs(manager: StateManager) -> None:
    a = manager.fire(None, appeared("a", "a"))
    b = manager.fire(None, appeared("b", "b"))
    manager.fire(b.ino, HydrateRequested())
    assert [r["ino"] for r in q.in_state(manager.conn, "GHOST")] == [a.ino]
    assert [r["ino"] for r in q.in_state(manager.conn, "HYDRATING")] == [b.ino]
    manager.set_xattr(a.ino, "user.color", b"red")
    manager.set_xattr(a.ino, "user.color", b"blue")
    assert q.xattrs(manager.conn, a.ino) == {"user.color": b"blue"}
    assert manager.remove_xattr(a.ino, "user.color") is True
    assert manager.remove_xattr(a.ino, "user.color") is False


def test_a_folder_cannot_move_into_its_own_subtree(manager: StateManager) -> None:
    outer = manager.fire(None, appeared("a", "a", kind="folder"))
    inner = manager.fire(None, appeared("b", "b", "a", kind="folder"))
    with pytest.raises(InvalidPlacement, match="inside itself"):
        manager.fire(outer.ino, changed("a", "a", "b", kind="folder"))
    manager.fire(None, appeared("f", "f"))
    with pytest.raises(InvalidPlacement, match="not a folder"):
        manager.fire(None, appeared("g", "g", "f"))
    assert q.path_of(manager.conn, inner.ino) == "/a/b"


def test_a_cycle_that_a_page_resolves_is_accepted(manager: StateManager) -> None:
    a = manager.fire(None, appeared("a", "a", kind="folder"))
    b = manager.fire(None, appeared("b", "b", "a", kind="folder"))
    # the server moved b to the root and a under b; the page lists a first
    manager.fire_batch(
        [
            Event("a", changed("a", "a", "b", kind="folder")),
            Event("b", changed("b", "b", kind="folder")),
        ]
    )
    assert q.path_of(manager.conn, a.ino) == "/b/a"
    assert q.path_of(manager.conn, b.ino) == "/b"


def test_a_delta_snapshot_never_clobbers_unsent_local_size_and_mtime(manager: StateManager) -> None:
    item = manager.fire(None, appeared("a", "a", size=3, mtime=1.0, ctag="c"))
    manager.fire(item.ino, LocalOverwritten(size=5, mtime=2.0, cached_hash=None))
    manager.fire("a", changed("a", "b", ctag="c", size=3, mtime=9.0, etag="e2"))
    row = q.get(manager.conn, item.ino)
    assert row is not None
    assert (row["state"], row["size"], row["mtime"], row["etag"], row["name"]) == (
        "DIRTY_LOCAL",
        5,
        2.0,
        "e2",
        "b",
    )
