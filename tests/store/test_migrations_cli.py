"""Schema versions, `onemount store migrate|validate` and `onemount stats`, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from onemount.store import SCHEMA_VERSION, SchemaError, StateManager, open_reader
from onemount.store.schema import version
from tests.store.conftest import fresh_manager

ONEMOUNT = [sys.executable, "-m", "onemount"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONEMOUNT, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_an_empty_file_migrates_to_the_current_version(db_path: Path) -> None:
    db_path.touch()  # a v0 database: no tables, user_version 0
    result = run("store", "migrate", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert f"schema version {SCHEMA_VERSION} (from 0)" in result.stdout
    conn = apsw.Connection(str(db_path))
    assert version(conn) == SCHEMA_VERSION
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"items", "journal", "intents", "kv", "xattrs"} <= tables
    again = run("store", "migrate", "--db", str(db_path))
    assert again.returncode == 0 and "(from" not in again.stdout


def test_a_database_from_a_newer_onemount_is_refused(db_path: Path) -> None:
    conn = apsw.Connection(str(db_path))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer than this onemount"):
        StateManager.open(db_path)
    result = run("store", "migrate", "--db", str(db_path))
    assert result.returncode == 1 and "newer than this onemount" in result.stderr


def test_validate_is_quiet_on_a_healthy_database(manager: StateManager, db_path: Path) -> None:
    manager.fire("d", "remote_appeared", parent=1, name="d", kind="folder")
    manager.fire(None, "local_created", parent="d", name="x")
    env = {**os.environ, "ONEMOUNT_DB": str(db_path)}
    result = run("store", "validate", env=env)
    assert result.returncode == 0, result.stdout
    assert "healthy" in result.stdout


def test_validate_reports_every_kind_of_damage(db_path: Path) -> None:
    manager = fresh_manager(db_path)
    a = manager.fire("a", "remote_appeared", parent=1, name="a.txt")
    b = manager.fire("b", "remote_appeared", parent=1, name="b.txt")
    conn = manager.conn
    # Damage the file the way a bug or a foreign tool would, past the triggers and constraints.
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("INSERT INTO fire_token VALUES (1)")
    conn.execute("UPDATE items SET cached_hash = 'h' WHERE ino = ?", (a.ino,))  # GHOST with bytes
    conn.execute("UPDATE items SET state = 'LIMBO' WHERE ino = ?", (b.ino,))
    conn.execute("UPDATE items SET parent_ino = 999 WHERE ino = ?", (b.ino,))
    conn.execute(
        "INSERT INTO intents (ino, kind, created, next_attempt) VALUES (777, 'upload', 0, 0)"
    )
    conn.execute("DELETE FROM fire_token")
    manager.close()
    result = run("store", "validate", "--db", str(db_path))
    assert result.returncode == 1
    for expected in (
        "invariant: inode 2: GHOST: not content_cached fails",
        "unknown state: inode 3: 'LIMBO'",
        "broken parent chain: inode 3",
        "orphan intent: inode 777",
    ):
        assert expected in result.stdout, result.stdout


def test_stats_json_counts_what_was_fired(manager: StateManager, db_path: Path) -> None:
    manager.fire("d", "remote_appeared", parent=1, name="d", kind="folder")
    manager.fire("f", "remote_appeared", parent="d", name="photo.JPG", size=2048, mtime=1.0)
    manager.fire(None, "local_created", parent="d", name="notes", size=0)
    result = run("stats", "--json", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["states"] == {"DIRTY_LOCAL": 1, "GHOST": 1, "HYDRATED": 2}
    assert stats["kinds"] == {"file": 2, "folder": 2}
    assert stats["sizes"]["empty"] == 1 and stats["sizes"]["1 KB-1 MB"] == 1
    assert stats["extensions"] == {"(none)": 1, "jpg": 1}
    assert stats["ages"]["older"] == 1 and stats["ages"]["today"] == 1
    assert stats["intents"]["waiting"] == {"upload": 1}
    assert stats["intents"]["oldest"]["name"] == "notes"
    assert stats["directories"]["depth_max"] == 1
    assert stats["cache"] == {"cached_bytes": 0, "limit_bytes": None}
    assert "no limit" in run("stats", "--db", str(db_path)).stdout


_WRITER = """
import sys
from onemount.store import Event, StateManager
manager = StateManager.open(sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    page = [f"w{n}-{i}" for i in range(50)]
    manager.fire_batch([Event(i, "remote_appeared", {"parent": 1, "name": i}) for i in page])
    n += 1
"""


def test_stats_reads_while_another_process_writes(manager: StateManager, db_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        counts = []
        for _ in range(5):
            result = run("stats", "--json", "--db", str(db_path))
            assert result.returncode == 0, result.stderr
            counts.append(json.loads(result.stdout)["kinds"].get("file", 0))
        assert counts == sorted(counts) and counts[-1] > 0
        assert writer.poll() is None  # the writer was never blocked out
    finally:
        writer.kill()
        writer.wait()
    reader = open_reader(db_path)
    assert reader.execute("SELECT count(*) FROM items").fetchone()[0] % 50 == 1
    reader.close()
