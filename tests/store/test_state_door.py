"""Only StateManager.fire changes ``state``: the trigger refuses everything else, and no module
of the package writes the column outside the manager."""

from __future__ import annotations

import re
from pathlib import Path

import apsw
import pytest

import onemount
from onemount.store import Event, InvalidTransition, StateManager
from onemount.store.events import UploadSucceeded
from onemount.store.queries import get
from tests.store.builders import appeared, remote


def test_trigger_refuses_a_state_change_outside_fire(manager: StateManager) -> None:
    fired = manager.fire(None, appeared("f", "a.txt"))
    with pytest.raises(apsw.ConstraintError, match=r"only through StateManager\.fire"):
        manager.conn.execute("UPDATE items SET state = 'HYDRATED' WHERE ino = ?", (fired.ino,))
    with pytest.raises(apsw.ConstraintError, match="purged only through"):
        manager.conn.execute("DELETE FROM items WHERE ino = ?", (fired.ino,))
    row = get(manager.conn, fired.ino)
    assert row is not None and row["state"] == "GHOST"


def test_trigger_refuses_a_row_created_outside_fire(manager: StateManager) -> None:
    with pytest.raises(apsw.ConstraintError, match="created only through"):
        manager.conn.execute(
            "INSERT INTO items (item_id, parent_ino, name, name_key, kind, state, created,"
            " updated) VALUES ('x', 1, 'x', 'x', 'file', 'GHOST', 0, 0)"
        )


def test_field_updates_never_touch_state(manager: StateManager) -> None:
    fired = manager.fire(None, appeared("f", "a.txt"))
    manager.set_pinned(fired.ino, True)
    manager.set_attrs(fired.ino, mtime=5.0, mode=0o600)
    manager.set_xattr(fired.ino, "user.tag", b"blue")
    row = get(manager.conn, fired.ino)
    assert row is not None
    assert (row["state"], row["pinned"], row["mtime"], row["mode"]) == ("GHOST", 1, 5.0, 0o600)


def test_a_refused_event_changes_nothing(manager: StateManager) -> None:
    fired = manager.fire(None, appeared("f", "a.txt"))
    journal = manager.conn.execute("SELECT count(*) FROM journal").fetchone()
    with pytest.raises(InvalidTransition):
        manager.fire(
            fired.ino, UploadSucceeded(remote=remote("f", "a.txt"), snapshot_seq=0, sent_mtime=None)
        )
    assert manager.conn.execute("SELECT count(*) FROM journal").fetchone() == journal
    row = get(manager.conn, fired.ino)
    assert row is not None and row["state"] == "GHOST"
    # and the door is shut again: the token did not survive the rollback
    assert manager.conn.execute("SELECT count(*) FROM fire_token").fetchone() == (0,)


def test_a_failing_batch_rolls_back_every_event_and_the_cursor(manager: StateManager) -> None:
    with pytest.raises(InvalidTransition):
        manager.fire_batch(
            [
                Event(None, appeared("a", "a")),
                Event(
                    "a", UploadSucceeded(remote=remote("a", "a"), snapshot_seq=0, sent_mtime=None)
                ),
            ],
            delta_cursor="c1",
        )
    assert manager.conn.execute("SELECT count(*) FROM items").fetchone() == (1,)  # the root
    assert manager.conn.execute("SELECT count(*) FROM kv").fetchone() == (0,)


# SQL that writes the state column: an UPDATE ... SET state, or an INSERT naming it.
_STATE_WRITE = re.compile(
    r"UPDATE\s+items\s+SET[^\"']*\bstate\s*=|INSERT\s+INTO\s+items\b", re.IGNORECASE
)


def test_no_module_but_the_manager_writes_state() -> None:
    package = Path(onemount.__file__).parent
    writers = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if _STATE_WRITE.search(path.read_text(encoding="utf-8"))
    }
    assert writers <= {"store/manager.py"}, writers
    text = (package / "store" / "manager.py").read_text(encoding="utf-8")
    assert "_INSERT" in text and "_UPDATE" in text  # the scan sees the manager's own writes
    assert _STATE_WRITE.search(text)
