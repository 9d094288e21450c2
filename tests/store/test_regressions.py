"""The twelve defects issue 8 reproduced against the store as the engine would use it.

Each test is named after its case (``test_caseNN_...``) and fails on the store as it was
before the issue (see the issue's closing note for how each was seen failing there). Together
they are the store's side of "no byte of the user's work is lost, no rename is dropped, and a
delta page is never refused for one item".
"""

from __future__ import annotations

import dataclasses

import pytest

from onemount.statemachine import InvalidTransition, default_spec
from onemount.store import (
    ROOT_INODE,
    Event,
    JobReport,
    NotEmpty,
    Snapshot,
    StateManager,
)
from onemount.store import queries as q
from onemount.store.delta import held_entries, ingest
from onemount.store.events import (
    Evict,
    HydrateRequested,
    HydrateSucceeded,
    LocalDeleted,
    LocalRenamed,
    RemoteChanged,
    RemoteDeletion,
    ResolveKeepBoth,
    RetryRequested,
    UploadFailed,
    UploadSucceeded,
    WritersClosed,
)
from onemount.store.outbox import ready_jobs
from onemount.store.schema import STATES
from tests.store.builders import (
    ROOT_ID,
    appeared,
    changed,
    created,
    failure,
    modified,
    remote,
)

NOW = 2e12  # "later than any next_attempt": every job is due


def row(manager: StateManager, ino: int) -> dict[str, object]:
    found = q.get(manager.conn, ino)
    assert found is not None
    return found


def hydrated(manager: StateManager, item_id: str, name: str, *, hash: str = "h1") -> int:
    """A file the server has, downloaded and verified: HYDRATED."""
    ino = manager.fire(None, appeared(item_id, name, hash=hash)).ino
    manager.fire(ino, HydrateRequested())
    manager.fire(ino, HydrateSucceeded(cached_hash=hash))
    return ino


def pending(manager: StateManager, ino: int) -> set[str]:
    return {k for (k,) in manager.conn.execute("SELECT kind FROM intents WHERE ino = ?", (ino,))}


def job(manager: StateManager, ino: int, kind: str) -> int:
    (found,) = manager.conn.execute(
        "SELECT id FROM intents WHERE ino = ? AND kind = ?", (ino, kind)
    ).fetchone()
    return int(found)


def upload(manager: StateManager, ino: int, reply_id: str, *, hash: str = "h-ours") -> None:
    """Run an item's upload job to success through the outbox API, as the engine does."""
    seq = manager.upload_snapshot_seq(ino)
    found = row(manager, ino)
    intent = job(manager, ino, "mkdir" if found["kind"] == "folder" else "upload")
    manager.start_job(intent, Snapshot(seq=seq, hash=hash, size=int(str(found["size"]))))
    kind = "folder" if found["kind"] == "folder" else "file"
    reply = remote(reply_id, str(found["name"]), hash=hash, kind=kind)
    manager.finish_job(
        intent,
        JobReport("succeeded"),
        UploadSucceeded(remote=reply, snapshot_seq=seq, sent_mtime=None),
    )


# ---- 1. a rename of an item the server does not have yet -----------------------------------


def test_case01_a_rename_of_an_item_the_server_lacks_takes_effect(manager: StateManager) -> None:
    draft = manager.fire(None, created("draft.txt"))
    manager.fire(draft.ino, LocalRenamed(parent=ROOT_INODE, name="final.txt"))
    assert row(manager, draft.ino)["name"] == "final.txt"
    folder = manager.fire(None, created("New folder", kind="folder"))
    manager.fire(folder.ino, LocalRenamed(parent=ROOT_INODE, name="Photos"))
    assert row(manager, folder.ino)["name"] == "Photos"
    manager.fire(draft.ino, LocalRenamed(parent=folder.ino, name="final.txt"))
    assert q.path_of(manager.conn, draft.ino) == "/Photos/final.txt"
    # in ERROR and in CONFLICT too
    failed = manager.fire(None, created("a.txt"))
    manager.fire(failed.ino, UploadFailed(failure=failure()))
    manager.fire(failed.ino, LocalRenamed(parent=ROOT_INODE, name="b.txt"))
    assert (row(manager, failed.ino)["state"], row(manager, failed.ino)["name"]) == (
        "ERROR",
        "b.txt",
    )
    # and the create carries the final name: it is the name the upload job sends
    upload(manager, folder.ino, "FOLDER")
    (create,) = [j for j in ready_jobs(manager.conn, NOW) if j.ino == draft.ino]
    assert (create.kind, create.name, create.parent_remote_id) == ("upload", "final.txt", "FOLDER")


def test_case01_a_rename_while_the_create_is_in_flight_is_sent_after_it(
    manager: StateManager,
) -> None:
    draft = manager.fire(None, created("draft.txt"))
    seq = manager.upload_snapshot_seq(draft.ino)
    intent = job(manager, draft.ino, "upload")
    manager.start_job(intent, Snapshot(seq=seq, hash="h", size=0))
    manager.fire(draft.ino, LocalRenamed(parent=ROOT_INODE, name="final.txt"))
    reply = remote("S1", "draft.txt", hash="h")  # the server created what the request carried
    manager.finish_job(
        intent,
        JobReport("succeeded"),
        UploadSucceeded(remote=reply, snapshot_seq=seq, sent_mtime=None),
    )
    assert row(manager, draft.ino)["name"] == "final.txt"
    assert pending(manager, draft.ino) == {"move"}
    (move,) = ready_jobs(manager.conn, NOW)
    assert (move.kind, move.name, move.remote_id) == ("move", "final.txt", "S1")


# ---- 2. delta undoing a pending local rename ----------------------------------------------


def test_case02_delta_does_not_undo_a_pending_local_rename(manager: StateManager) -> None:
    item = manager.fire(None, appeared("A", "old.txt"))
    manager.fire(item.ino, LocalRenamed(parent=ROOT_INODE, name="new.txt"))
    # a metadata refresh from the server (still the old name) before our move ran
    ingest(manager, [remote("A", "old.txt", etag="e2")], cursor="c1", writers=set())
    assert row(manager, item.ino)["name"] == "new.txt"
    assert row(manager, item.ino)["etag"] == "e2"
    (move,) = ready_jobs(manager.conn, NOW)
    assert (move.kind, move.name) == ("move", "new.txt")


# ---- 3. a failed upload dropping the pending move -----------------------------------------


def test_case03_a_failed_upload_keeps_the_pending_move(manager: StateManager) -> None:
    ino = hydrated(manager, "A", "a.txt")
    manager.fire(ino, modified())
    manager.fire(ino, LocalRenamed(parent=ROOT_INODE, name="b.txt"))
    intent = job(manager, ino, "upload")
    manager.start_job(intent, Snapshot(seq=manager.upload_snapshot_seq(ino), hash="h2", size=5))
    manager.finish_job(
        intent,
        JobReport("cancel"),
        UploadFailed(failure=failure("quota exceeded")),
    )
    assert row(manager, ino)["state"] == "ERROR"
    assert pending(manager, ino) == {"move"}
    manager.fire(ino, RetryRequested())
    assert pending(manager, ino) == {"upload", "move"}


# ---- 4. one name collision (or one odd entry) refusing a whole delta page ------------------


def test_case04_a_local_file_meeting_a_remote_case_variant_is_moved_aside(
    manager: StateManager,
) -> None:
    local = manager.fire(None, created("notes.txt"))
    report = ingest(manager, [remote("N", "Notes.txt", hash="theirs")], cursor="c1", writers=set())
    assert report.held == [] and report.collisions == 1
    ours = row(manager, local.ino)
    assert str(ours["name"]).startswith("notes (conflict copy ") and str(ours["name"]).endswith(
        ".txt"
    )
    assert ours["state"] == "DIRTY_LOCAL" and pending(manager, local.ino) == {"upload"}
    theirs = q.lookup(manager.conn, ROOT_INODE, "notes.txt")
    assert theirs is not None and (theirs["item_id"], theirs["name"]) == ("N", "Notes.txt")
    assert q.kv(manager.conn, "delta_cursor") == "c1"


def test_case04_two_items_swapping_names_in_one_page(manager: StateManager) -> None:
    a = manager.fire(None, appeared("A", "a.txt"))
    b = manager.fire(None, appeared("B", "b.txt"))
    ingest(manager, [remote("A", "b.txt"), remote("B", "a.txt")], cursor="c1", writers=set())
    assert (row(manager, a.ino)["name"], row(manager, b.ino)["name"]) == ("b.txt", "a.txt")


def test_case04_a_deleted_item_revived_onto_a_recreated_name(manager: StateManager) -> None:
    old = manager.fire(None, appeared("A", "report.docx", hash="v1"))
    manager.fire(old.ino, LocalDeleted())
    again = manager.fire(None, created("report.docx"))
    # before our delete reached the server, someone edited the file: a remote edit wins
    ingest(manager, [remote("A", "report.docx", hash="v2")], cursor="c1", writers=set())
    assert row(manager, old.ino)["state"] == "GHOST"
    assert row(manager, old.ino)["name"] == "report.docx"
    assert str(row(manager, again.ino)["name"]).startswith("report (conflict copy ")


def test_case04_delta_reporting_our_own_new_file_before_its_reply(manager: StateManager) -> None:
    mine = manager.fire(None, created("photo.jpg", size=3))
    seq = manager.upload_snapshot_seq(mine.ino)
    intent = job(manager, mine.ino, "upload")
    manager.start_job(intent, Snapshot(seq=seq, hash="h-photo", size=3))
    report = ingest(manager, [remote("P", "photo.jpg", hash="h-photo")], cursor="c1", writers=set())
    assert report.held == []
    adopted = row(manager, mine.ino)
    assert (adopted["item_id"], adopted["remote_id"], adopted["state"]) == ("P", "P", "DIRTY_LOCAL")
    assert len(q.children(manager.conn, ROOT_INODE)) == 1
    reply = remote("P", "photo.jpg", hash="h-photo")
    manager.finish_job(
        intent,
        JobReport("succeeded"),
        UploadSucceeded(remote=reply, snapshot_seq=seq, sent_mtime=None),
    )
    assert row(manager, mine.ino)["state"] == "HYDRATED"


def test_case04_children_before_parents_repeats_and_unknown_deletes(manager: StateManager) -> None:
    page = [
        remote("F", "f.txt", "D2"),
        remote("D2", "inner", "D1", kind="folder"),
        RemoteDeletion(id="never-seen"),
        remote("D1", "outer", kind="folder"),
        remote("F", "f2.txt", "D2"),  # the same id again: the last occurrence wins
        remote("ORPHAN", "o.txt", "missing-parent"),
    ]
    report = ingest(manager, page, cursor="c1", writers=set())
    found = q.resolve_path(manager.conn, "/outer/inner/f2.txt")
    assert found is not None and row(manager, found)["item_id"] == "F"
    assert report.ignored == 1
    assert [h.id for h in report.held] == ["ORPHAN"]
    assert held_entries(manager.conn)[0][:2] == (
        "ORPHAN",
        "its parent missing-parent has not arrived",
    )
    # the parent arrives two pages later: the held entry is applied then
    ingest(manager, [remote("missing-parent", "late", kind="folder")], cursor="c2", writers=set())
    assert q.resolve_path(manager.conn, "/late/o.txt") is not None
    assert held_entries(manager.conn) == []


def test_case04_an_entry_that_cannot_be_applied_costs_only_itself(manager: StateManager) -> None:
    manager.fire(None, appeared("FILE", "plain.txt"))
    page = [
        remote("X", "under-a-file", "FILE"),  # the server says a file is its parent
        remote("Y", "\u6f22" * 100),  # 300 bytes of UTF-8: Linux cannot show it
        remote("OK", "fine.txt"),
    ]
    report = ingest(manager, page, cursor="c9", writers=set())
    assert sorted(h.id for h in report.held) == ["X", "Y"]
    assert q.lookup(manager.conn, ROOT_INODE, "fine.txt") is not None
    assert q.kv(manager.conn, "delta_cursor") == "c9"


# ---- 5. our own upload's echo taken for a conflict -----------------------------------------


def test_case05_the_echo_of_our_upload_is_not_a_conflict(manager: StateManager) -> None:
    ino = hydrated(manager, "A", "a.txt", hash="v1")
    item = manager.fire(ino, modified())
    seq = manager.upload_snapshot_seq(item.ino)
    intent = job(manager, item.ino, "upload")
    manager.start_job(intent, Snapshot(seq=seq, hash="v2-ours", size=5))
    # the server stored our bytes; a notification made delta report them before the reply
    ingest(manager, [remote("A", "a.txt", hash="v2-ours", ctag="c2")], cursor="c1", writers=set())
    assert row(manager, item.ino)["state"] == "DIRTY_LOCAL"
    reply = remote("A", "a.txt", hash="v2-ours", ctag="c2")
    manager.finish_job(
        intent,
        JobReport("succeeded"),
        UploadSucceeded(remote=reply, snapshot_seq=seq, sent_mtime=None),
    )
    assert row(manager, item.ino)["state"] == "HYDRATED"
    assert row(manager, item.ino)["cached_hash"] == "v2-ours"
    # while somebody else's edit still is one
    manager.fire(item.ino, modified())
    ingest(manager, [remote("A", "a.txt", hash="v3-theirs", ctag="c3")], cursor="c2", writers=set())
    assert row(manager, item.ino)["state"] == "CONFLICT"


# ---- 6. safety guards defaulting to "allow" ---------------------------------------------


def test_case06_no_safety_field_can_be_forgotten_or_misspelt() -> None:
    with pytest.raises(TypeError):
        Evict()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        RemoteChanged(remote=remote("A", "a"))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        UploadSucceeded(remote=remote("A", "a"))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        HydrateSucceeded()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Evict(open_handles=False, has_open_handles=True)  # type: ignore[call-arg]


def test_case06_an_open_file_is_not_evicted(manager: StateManager) -> None:
    item = manager.fire(None, appeared("A", "a.txt", hash="h"))
    manager.fire(item.ino, HydrateRequested())
    manager.fire(item.ino, HydrateSucceeded(cached_hash="h"))
    with pytest.raises(InvalidTransition):
        manager.fire(item.ino, Evict(open_handles=True))
    assert row(manager, item.ino)["state"] == "HYDRATED"


def test_case06_graphs_ctag_invalidates_stale_bytes(manager: StateManager) -> None:
    item = manager.fire(None, appeared("A", "a.txt", ctag="c1", hash=None))
    manager.fire(item.ino, HydrateRequested())
    manager.fire(item.ino, HydrateSucceeded(cached_hash="bytes1"))
    ingest(manager, [remote("A", "a.txt", ctag="c2", hash=None)], cursor="c", writers=set())
    assert row(manager, item.ino)["state"] == "GHOST"


def test_case06_bytes_written_during_an_upload_stay_dirty(manager: StateManager) -> None:
    item = manager.fire(None, created("a.txt"))
    seq = manager.upload_snapshot_seq(item.ino)
    intent = job(manager, item.ino, "upload")
    manager.start_job(intent, Snapshot(seq=seq, hash="h-old", size=0))
    manager.fire(item.ino, modified())  # a write after the snapshot
    reply = remote("A", "a.txt", hash="h-old")
    manager.finish_job(
        intent,
        JobReport("succeeded"),
        UploadSucceeded(remote=reply, snapshot_seq=seq, sent_mtime=None),
    )
    assert row(manager, item.ino)["state"] == "DIRTY_LOCAL"
    assert pending(manager, item.ino) == {"upload"}


def test_case06_a_download_that_finishes_after_a_remote_change_is_refused(
    manager: StateManager,
) -> None:
    item = manager.fire(None, appeared("A", "a.txt", hash="v1"))
    manager.fire(item.ino, HydrateRequested())
    ingest(manager, [remote("A", "a.txt", hash="v2", ctag="c2")], cursor="c", writers=set())
    late = manager.fire(item.ino, HydrateSucceeded(cached_hash="v1"))  # the old download
    assert (late.target, row(manager, item.ino)["cached_hash"]) == ("HYDRATING", None)
    done = manager.fire(item.ino, HydrateSucceeded(cached_hash="v2"))
    assert (done.target, row(manager, item.ino)["cached_hash"]) == ("HYDRATED", "v2")


# ---- 7. deleting a folder that still has live children ------------------------------------


def test_case07_deleting_a_folder_with_live_children_purges_nothing(manager: StateManager) -> None:
    folder = manager.fire(None, created("drafts", kind="folder"))
    child = manager.fire(None, created("unsent.txt", folder.ino, size=9))
    with pytest.raises(NotEmpty):
        manager.fire(folder.ino, LocalDeleted())
    assert row(manager, child.ino)["state"] == "DIRTY_LOCAL"
    manager.fire(child.ino, LocalDeleted())  # rm -r: the child goes first, by the user
    manager.fire(folder.ino, LocalDeleted())
    assert q.get(manager.conn, folder.ino) is None


# ---- 8. a job's outcome and its item's event in separate transactions ---------------------


def test_case08_a_jobs_outcome_and_its_item_event_commit_together(manager: StateManager) -> None:
    item = manager.fire(None, created("a.txt"))
    intent = job(manager, item.ino, "upload")
    manager.start_job(intent, Snapshot(seq=1, hash="h", size=0))
    # the item event is refused (a snapshot_seq that is not the row's says the bytes changed
    # and the spec stays DIRTY_LOCAL; here a wrong event type is refused outright): the job's
    # COMPLETED is rolled back with it, so the item is never dirty behind a finished job
    with pytest.raises(InvalidTransition):
        manager.finish_job(intent, JobReport("succeeded"), HydrateSucceeded(cached_hash="h"))
    assert manager.conn.execute(
        "SELECT job_state FROM intents WHERE id = ?", (intent,)
    ).fetchone() == ("UPLOADING",)
    assert manager.recover_jobs() == 1
    assert manager.conn.execute(
        "SELECT job_state FROM intents WHERE id = ?", (intent,)
    ).fetchone() == ("QUEUED",)


def test_case08_start_up_requeues_a_dirty_item_left_without_a_job(manager: StateManager) -> None:
    item = manager.fire(None, created("a.txt"))
    with manager.conn:  # what a crash between the two transactions of old left behind
        manager.conn.execute("DELETE FROM intents WHERE ino = ?", (item.ino,))
    assert manager.recover_jobs() == 1
    assert pending(manager, item.ino) == {"upload"}
    assert [j.ino for j in ready_jobs(manager.conn, NOW)] == [item.ino]


# ---- 9. replay not ordered by dependency --------------------------------------------------


def test_case09_a_child_waits_for_its_parents_mkdir(manager: StateManager) -> None:
    folder = manager.fire(None, created("new", kind="folder"))
    child = manager.fire(None, created("c.txt", folder.ino))
    mkdir = job(manager, folder.ino, "mkdir")
    manager.start_job(mkdir)
    manager.set_job_state(mkdir, JobReport("transient_error", error="503", retry_after=0))
    kinds = {(j.ino, j.kind) for j in ready_jobs(manager.conn, NOW)}
    assert kinds == {(folder.ino, "mkdir")}  # the child's upload is not ready
    reply = remote("NEW", "new", kind="folder")
    manager.start_job(mkdir)
    manager.finish_job(
        mkdir,
        JobReport("succeeded"),
        UploadSucceeded(remote=reply, snapshot_seq=1, sent_mtime=None),
    )
    assert {(j.ino, j.kind) for j in ready_jobs(manager.conn, NOW)} == {(child.ino, "upload")}


def test_case09_a_swap_through_a_temporary_name_replays_without_colliding(
    manager: StateManager,
) -> None:
    a = manager.fire(None, appeared("A", "a.txt"))
    b = manager.fire(None, appeared("B", "b.txt"))
    # an editor's swap: a -> tmp, b -> a, tmp -> b, all while offline
    manager.fire(a.ino, LocalRenamed(parent=ROOT_INODE, name="tmp"))
    manager.fire(b.ino, LocalRenamed(parent=ROOT_INODE, name="a.txt"))
    manager.fire(a.ino, LocalRenamed(parent=ROOT_INODE, name="b.txt"))
    (first,) = ready_jobs(manager.conn, NOW)
    assert first.kind == "move" and first.via_temporary_name


def test_case09_a_write_while_the_job_waits_starts_a_fresh_session(manager: StateManager) -> None:
    item = manager.fire(hydrated(manager, "A", "big.iso"), modified(size=10_000_000))
    intent = job(manager, item.ino, "upload")
    manager.start_job(
        intent, Snapshot(seq=manager.upload_snapshot_seq(item.ino), hash="h1", size=1)
    )
    manager.job_progress(intent, "https://up/session-1", 327_680)
    manager.set_job_state(intent, JobReport("transient_error", error="reset", retry_after=0))
    assert manager.note_write(item.ino, size=10_000_001, mtime=3.0)
    session = manager.conn.execute(
        "SELECT session_url, session_offset, snapshot_hash FROM intents WHERE id = ?", (intent,)
    ).fetchone()
    assert session == (None, None, None)


# ---- 10. a remote content change to a file open for writing --------------------------------


def test_case10_a_remote_change_waits_for_the_files_writers(manager: StateManager) -> None:
    item = manager.fire(None, appeared("A", "a.txt", hash="v1"))
    manager.fire(item.ino, HydrateRequested())
    manager.fire(item.ino, HydrateSucceeded(cached_hash="v1"))
    writers = {item.ino}
    ingest(manager, [remote("A", "a.txt", hash="v2", ctag="c2")], cursor="c", writers=writers)
    kept = row(manager, item.ino)
    assert (kept["state"], kept["cached_hash"], kept["conflict_remote_hash"]) == (
        "HYDRATED",
        "v1",
        "v2",
    )
    # the writer's next write is legal, and both versions are kept
    written = manager.fire(item.ino, modified())
    assert written.target == "CONFLICT"
    manager.fire(item.ino, ResolveKeepBoth(writers=False))
    names = sorted(r["name"] for r in q.children(manager.conn, ROOT_INODE))
    assert (
        names[0] == "a (conflict copy " + names[0][len("a (conflict copy ") :]
        and names[1] == "a.txt"
    )


def test_case10_when_the_writer_closes_without_writing_the_change_applies(
    manager: StateManager,
) -> None:
    item = manager.fire(None, appeared("A", "a.txt", hash="v1"))
    manager.fire(item.ino, HydrateRequested())
    manager.fire(item.ino, HydrateSucceeded(cached_hash="v1"))
    ingest(manager, [remote("A", "a.txt", hash="v2", ctag="c2")], cursor="c", writers={item.ino})
    manager.fire(item.ino, WritersClosed())
    after = row(manager, item.ino)
    assert (after["state"], after["remote_hash"], after["cached_hash"]) == ("GHOST", "v2", None)


# ---- 11. hot-path costs --------------------------------------------------------------------


def test_case11_a_remote_change_that_changes_nothing_writes_nothing(manager: StateManager) -> None:
    manager.fire(None, appeared("A", "a.txt"))
    journal = manager.conn.execute("SELECT count(*) FROM journal").fetchone()
    report = ingest(manager, [remote("A", "a.txt")], cursor="c", writers=set())
    assert [f.written for f in report.fired] == [False]
    assert manager.conn.execute("SELECT count(*) FROM journal").fetchone() == journal


def test_case11_later_writes_update_attributes_without_a_transition(manager: StateManager) -> None:
    ino = hydrated(manager, "A", "a.txt")
    assert not manager.note_write(ino, size=1, mtime=1.0)  # not dirty: fire first
    item = manager.fire(ino, modified(size=1))
    journal = manager.conn.execute("SELECT count(*) FROM journal").fetchone()
    seq = manager.upload_snapshot_seq(item.ino)
    for size in range(2, 50):
        assert manager.note_write(item.ino, size=size, mtime=float(size))
    attrs = q.attrs(manager.conn, item.ino)
    assert attrs is not None and (attrs.size, attrs.mtime) == (49, 49.0)
    assert manager.upload_snapshot_seq(item.ino) == seq + 48
    assert manager.conn.execute("SELECT count(*) FROM journal").fetchone() == journal


def test_case11_the_journal_is_pruned_and_the_outbox_query_uses_its_index(
    manager: StateManager,
) -> None:
    manager.fire_batch(Event(None, created(f"f{i}")) for i in range(30))
    assert manager.prune_journal(keep_rows=10) >= 20
    assert manager.conn.execute("SELECT count(*) FROM journal").fetchone()[0] <= 11
    plan = " ".join(
        str(r[-1])
        for r in manager.conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM intents"
            " WHERE job_state IN ('QUEUED', 'WAITING_RETRY') AND next_attempt <= 1"
        )
    )
    assert "intents_ready" in plan


# ---- 12. the schema's states, a hand copy of the spec's -----------------------------------


def test_case12_the_schemas_states_come_from_the_spec(manager: StateManager) -> None:
    spec = default_spec("item")
    assert set(STATES) == set(spec.states) - {spec.initial, *spec.final_states}
    (sql,) = manager.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()
    for state in STATES:  # the CHECK constraint admits every state the spec can store
        assert f"'{state}'" in sql


def test_every_payload_field_is_required_or_documented() -> None:
    """No payload field of a safety guard has a default (the case 6 rule, for new events)."""
    from onemount.store.events import PAYLOADS

    assert set(PAYLOADS) == set(default_spec("item").events)
    for cls in PAYLOADS.values():
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            assert f.default is dataclasses.MISSING, f"{cls.__name__}.{f.name} has a default"
            assert f.default_factory is dataclasses.MISSING


def test_the_root_is_an_ordinary_remote_item(manager: StateManager) -> None:
    report = ingest(
        manager,
        [remote(ROOT_ID, "root", None, kind="folder", etag="e9")],
        cursor="c",
        writers=set(),
    )
    assert [f.ino for f in report.fired] == [ROOT_INODE]
    assert row(manager, ROOT_INODE)["etag"] == "e9"


def test_a_remote_change_to_an_unknown_parent_is_held_not_refused(manager: StateManager) -> None:
    manager.fire(None, appeared("A", "a.txt"))
    report = ingest(manager, [remote("A", "a.txt", "NOPE")], cursor="c", writers=set())
    assert [h.id for h in report.held] == ["A"]
    assert q.lookup(manager.conn, ROOT_INODE, "a.txt") is not None
    assert isinstance(changed("A", "a.txt"), RemoteChanged)


def test_case05_an_upload_whose_reply_was_lost_is_not_a_conflict(manager: StateManager) -> None:
    """The upload reached the server, its reply did not: delta then reports our own bytes."""
    ino = hydrated(manager, "A", "a.txt", hash="v1")
    manager.fire(ino, modified(cached_hash="v2-ours"))
    intent = job(manager, ino, "upload")
    manager.start_job(
        intent, Snapshot(seq=manager.upload_snapshot_seq(ino), hash="v2-ours", size=5)
    )
    manager.finish_job(
        intent, JobReport("permanent_error", error="timeout"), UploadFailed(failure=failure())
    )
    assert row(manager, ino)["state"] == "ERROR"
    ingest(manager, [remote("A", "a.txt", hash="v2-ours", ctag="c2")], cursor="c", writers=set())
    after = row(manager, ino)
    assert (after["state"], after["has_local_changes"], after["last_error"]) == (
        "HYDRATED",
        0,
        None,
    )


def test_case04_the_early_echo_of_a_renamed_create_goes_through_the_spec(
    manager: StateManager,
) -> None:
    mine = manager.fire(None, created("draft.txt"))
    seq = manager.upload_snapshot_seq(mine.ino)
    intent = job(manager, mine.ino, "upload")
    manager.start_job(intent, Snapshot(seq=seq, hash="h", size=0))
    manager.fire(mine.ino, LocalRenamed(parent=ROOT_INODE, name="final.txt"))
    # delta lists our create under the name it carried, before its reply: a second row
    ingest(manager, [remote("S", "draft.txt", hash="h")], cursor="c", writers=set())
    assert len(q.children(manager.conn, ROOT_INODE)) == 2
    reply = remote("S", "draft.txt", hash="h")
    manager.finish_job(
        intent,
        JobReport("succeeded"),
        UploadSucceeded(remote=reply, snapshot_seq=seq, sent_mtime=None),
    )
    assert [r["ino"] for r in q.children(manager.conn, ROOT_INODE)] == [mine.ino]
    journal = manager.conn.execute(
        "SELECT event, to_state, detail FROM journal WHERE item_id = 'S' AND ino <> ?", (mine.ino,)
    ).fetchall()
    assert journal[-1][:2] == ("remote_deleted", "REMOVED")
    assert row(manager, mine.ino)["remote_id"] == "S" and pending(manager, mine.ino) == {"move"}
