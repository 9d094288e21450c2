"""The mount and upload machines' bindings, on a real store."""

from __future__ import annotations

from onemount.statemachine import compiled
from onemount.store import StateManager
from onemount.store.mount_bindings import GUARDS, MountContext


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
    item = manager.fire(None, "local_created", parent=1, name="big.iso")
    (job,) = next(iter(manager.conn.execute("SELECT id FROM intents WHERE ino = ?", (item.ino,))))
    assert manager.fire_upload(job, "start") == "UPLOADING"
    assert manager.fire_upload(job, "fragment_sent", session_url="https://up/1", offset=10) == (
        "UPLOADING"
    )
    assert manager.fire_upload(job, "process_restarted", retry_after=0) == "WAITING_RETRY"
    session = manager.conn.execute(
        "SELECT session_url, session_offset, attempts FROM intents WHERE id = ?", (job,)
    ).fetchone()
    assert session == ("https://up/1", 10, 1)
    assert manager.fire_upload(job, "retry_due") == "UPLOADING"
    assert manager.fire_upload(job, "session_lost") == "QUEUED"
    assert manager.conn.execute(
        "SELECT session_url FROM intents WHERE id = ?", (job,)
    ).fetchone() == (None,)
