"""The mount and upload machines' bindings, on a real store."""

from __future__ import annotations

from onemount.statemachine import compiled
from onemount.store import JobReport, Snapshot, StateManager
from onemount.store.mount_bindings import GUARDS, MountContext
from tests.store.builders import created


def _bootstrap(manager: StateManager, *, reachable: bool) -> str:
    ctx = MountContext(manager.conn, {"graph_reachable": reachable})
    guards = {name: guard(ctx) for name, guard in GUARDS.items()}
    return compiled("mount").fire("STARTING", "bootstrap", guards)


def test_mount_serves_from_metadata_alone_once_it_is_complete(manager: StateManager) -> None:
    assert _bootstrap(manager, reachable=False) == "FAILED"
    assert _bootstrap(manager, reachable=True) == "ENUMERATING"
    manager.set_kv("drive_id", "drive")
    manager.set_kv("root_id", "root-id")
    assert _bootstrap(manager, reachable=False) == "FAILED"  # no delta cursor yet
    manager.fire_batch([], delta_cursor="cursor")
    assert _bootstrap(manager, reachable=False) == "SERVING"


def test_an_upload_job_resumes_its_session_or_starts_over(manager: StateManager) -> None:
    item = manager.fire(None, created("big.iso"))
    (job,) = next(iter(manager.conn.execute("SELECT id FROM intents WHERE ino = ?", (item.ino,))))
    assert manager.start_job(job, Snapshot(seq=1, hash="h", size=10)) == "UPLOADING"
    manager.job_progress(job, "https://up/1", 10)
    assert manager.recover_jobs() == 1  # the process died while it was sending
    session = manager.conn.execute(
        "SELECT job_state, session_url, session_offset, attempts, snapshot_hash FROM intents"
        " WHERE id = ?",
        (job,),
    ).fetchone()
    assert session == ("WAITING_RETRY", "https://up/1", 10, 1, "h")
    assert manager.start_job(job) == "UPLOADING"  # retry_due: the session is resumed
    assert manager.set_job_state(job, JobReport("session_lost")) == "QUEUED"
    assert manager.conn.execute(
        "SELECT session_url FROM intents WHERE id = ?", (job,)
    ).fetchone() == (None,)
