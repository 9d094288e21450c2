"""What the outbox worker relies on the store for, shown on the store alone.

Both were once worked around in the worker (a move answered after another rename reported as
``session_lost`` to stay queued; a stale session forgotten by hand before a new snapshot);
the spec and the store now do it, so the worker reports what happened.
"""

from __future__ import annotations

from pathlib import Path

from onemount.store import ROOT_INODE, JobReport, Snapshot, StateManager
from onemount.store.events import LocalRenamed, LocalTimesChanged, MoveSucceeded
from tests.store.builders import add_root, appeared, changed, created, remote


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
    reply = MoveSucceeded(remote=remote("A", "b.txt"), sent_mtime=None)
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


def _mtime(manager: StateManager, ino: int) -> float:
    return float(
        manager.conn.execute("SELECT mtime FROM items WHERE ino = ?", (ino,)).fetchone()[0]
    )


def test_a_utime_waits_for_its_move_and_the_servers_whole_seconds_of_it_keep_ours(
    tmp_path: Path,
) -> None:
    """The row keeps the user's time against delta while the move carrying it is pending; a
    server that kept only the whole seconds of it gives back ours; another time is taken."""
    manager = store(tmp_path / "db")
    ino = manager.fire(None, appeared("A", "a.txt", mtime=5.0)).ino
    manager.fire(ino, LocalTimesChanged(mtime=1_000.75))
    manager.fire(ino, changed("A", "a.txt", mtime=5.0))  # an echo from before the move
    assert _mtime(manager, ino) == 1_000.75
    move = intent(manager, ino, "move")
    manager.start_job(move)
    reply = MoveSucceeded(remote=remote("A", "a.txt", mtime=1_000.0), sent_mtime=1_000.75)
    manager.finish_job(move, JobReport("succeeded"), reply)
    assert manager.conn.execute("SELECT 1 FROM intents WHERE ino = ?", (ino,)).fetchone() is None
    manager.fire(ino, changed("A", "a.txt", etag="e2", mtime=1_000.0))  # the move's echo
    assert _mtime(manager, ino) == 1_000.75
    manager.fire(ino, changed("A", "a.txt", etag="e3", mtime=2_000.0))  # touched elsewhere
    assert _mtime(manager, ino) == 2_000.0


def test_a_utime_during_the_move_queues_it_again(tmp_path: Path) -> None:
    manager = store(tmp_path / "db")
    ino = manager.fire(None, appeared("A", "a.txt", mtime=5.0)).ino
    manager.fire(ino, LocalTimesChanged(mtime=10.0))
    move = intent(manager, ino, "move")
    manager.start_job(move)
    manager.fire(ino, LocalTimesChanged(mtime=20.0))  # touch again while the PATCH is out
    reply = MoveSucceeded(remote=remote("A", "a.txt", mtime=10.0), sent_mtime=10.0)
    manager.finish_job(move, JobReport("succeeded"), reply)
    kinds = [k for (k,) in manager.conn.execute("SELECT kind FROM intents WHERE ino = ?", (ino,))]
    assert kinds == ["move"] and _mtime(manager, ino) == 20.0
