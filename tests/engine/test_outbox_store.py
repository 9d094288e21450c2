"""What the outbox worker relies on the store for, shown on the store alone.

Both were once worked around in the worker (a move answered after another rename reported as
``session_lost`` to stay queued; a stale session forgotten by hand before a new snapshot);
the spec and the store now do it, so the worker reports what happened.
"""

from __future__ import annotations

from pathlib import Path

from onemount.store import ROOT_INODE, JobReport, Snapshot, StateManager
from onemount.store.events import LocalRenamed, MoveSucceeded
from tests.store.builders import add_root, appeared, created, remote


def store(path: Path) -> StateManager:
    manager = StateManager.open(path)
    add_root(manager)
    return manager


def intent(manager: StateManager, ino: int, kind: str) -> int:
    found = manager.conn.execute(
        "SELECT id FROM intents WHERE ino = ? AND kind = ?", (ino, kind)
    ).fetchone()
    assert found is not None
    return int(found[0])


def test_a_rename_during_a_move_in_flight_stays_queued(tmp_path: Path) -> None:
    manager = store(tmp_path / "db")
    ino = manager.fire(None, appeared("A", "a.txt")).ino
    manager.fire(ino, LocalRenamed(parent=ROOT_INODE, name="b.txt"))
    move = intent(manager, ino, "move")
    manager.start_job(move)
    manager.fire(ino, LocalRenamed(parent=ROOT_INODE, name="c.txt"))
    reply = MoveSucceeded(remote=remote("A", "b.txt"))
    manager.finish_job(move, JobReport("succeeded"), reply)
    kinds = [k for (k,) in manager.conn.execute("SELECT kind FROM intents WHERE ino = ?", (ino,))]
    assert kinds == ["move"]


def test_a_new_snapshot_forgets_the_session_of_the_old_one(tmp_path: Path) -> None:
    manager = store(tmp_path / "db")
    ino = manager.fire(None, created("big.bin", size=10)).ino
    upload = intent(manager, ino, "upload")
    manager.start_job(upload, Snapshot(seq=1, hash="old", size=10))
    manager.job_progress(upload, "https://up/session-of-old", 327_680)
    manager.recover_jobs()  # the process died: the job waits to resume its session
    manager.start_job(upload, Snapshot(seq=1, hash="new", size=12))  # other bytes now
    found = manager.conn.execute("SELECT session_url FROM intents WHERE id = ?", (upload,))
    assert found.fetchone() == (None,)
