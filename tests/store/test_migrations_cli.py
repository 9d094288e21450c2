"""Schema versions, `onemount store migrate|validate` and `onemount stats`, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from onemount.store import SCHEMA_VERSION, SchemaError, StateManager, open_reader
from onemount.store import queries as q
from onemount.store.delta import held_entries, ingest
from onemount.store.events import HydrateRequested, RemoteDeleted
from onemount.store.item_bindings import _UNSENT_DESCENDANT
from onemount.store.manager import _SUBTREE
from onemount.store.outbox import ready_jobs
from onemount.store.schema import expected_objects, schema_objects, version
from onemount.store.stats import DEPTH_SQL, FILES_PER_DIRECTORY_SQL
from tests.store.builders import appeared, created, remote
from tests.store.conftest import fresh_manager

ONEMOUNT = [sys.executable, "-m", "onemount"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONEMOUNT, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


FIXTURES = Path(__file__).with_name("fixtures")
TABLES = ("items", "journal", "intents", "kv", "xattrs", "fire_token")


def _version_0(path: Path) -> None:
    path.touch()  # no tables, user_version 0: what a first open finds


def _fixture(version_number: int) -> Callable[[Path], None]:
    def load(path: Path) -> None:
        conn = apsw.Connection(str(path))
        conn.execute((FIXTURES / f"metadata_v{version_number}.sql").read_text())
        conn.close()

    return load


_version_1, _version_2, _version_3 = _fixture(1), _fixture(2), _fixture(3)

# A database as each earlier version left it. A new schema version adds the fixture of the
# version before it here; test_every_earlier_version_has_a_fixture fails until it does.
EARLIER_VERSIONS = {0: _version_0, 1: _version_1, 2: _version_2, 3: _version_3}
# What an upgrade deliberately changes: version 3 re-queues or sweeps jobs left in a final
# state (a finished job now leaves the outbox in the transaction that records its outcome).
_SWEPT = "job_state IN ('COMPLETED', 'CONFLICTED', 'FAILED', 'CANCELLED')"


def _contents(
    conn: apsw.Connection, columns: dict[str, list[str]] | None = None
) -> dict[str, list[tuple[object, ...]]]:
    """Every row of each table, in the columns ``columns`` names (default: all of them)."""
    present = {name for (kind, name) in schema_objects(conn) if kind == "table"}
    found = {}
    for table in TABLES:
        if table not in present:
            continue
        names = (columns or {}).get(table) or [
            r[1] for r in conn.execute(f"PRAGMA table_info({table})")
        ]
        where = f" WHERE NOT ({_SWEPT})" if table == "intents" else ""
        rows = conn.execute(f"SELECT {', '.join(names)} FROM {table}{where}").fetchall()
        found[table] = sorted(rows, key=repr)
    return found


def _columns(conn: apsw.Connection) -> dict[str, list[str]]:
    present = {name for (kind, name) in schema_objects(conn) if kind == "table"}
    return {
        t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in TABLES if t in present
    }


def test_every_earlier_version_has_a_fixture() -> None:
    assert set(EARLIER_VERSIONS) == set(range(SCHEMA_VERSION))


@pytest.mark.parametrize("start", sorted(EARLIER_VERSIONS))
def test_every_earlier_version_upgrades_to_the_current_one(db_path: Path, start: int) -> None:
    EARLIER_VERSIONS[start](db_path)
    conn = apsw.Connection(str(db_path))
    assert version(conn) == start
    assert schema_objects(conn) == expected_objects(start), "the fixture is not of its version"
    columns = _columns(conn)
    before = _contents(conn, columns)
    conn.close()

    result = run("store", "migrate", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    assert f"schema version {SCHEMA_VERSION} (from {start})" in result.stdout

    conn = apsw.Connection(str(db_path))
    assert version(conn) == SCHEMA_VERSION
    # The same tables, indexes and triggers as a database created fresh, and no row lost.
    assert schema_objects(conn) == expected_objects(SCHEMA_VERSION)
    after = {t: rows for t, rows in _contents(conn, columns).items() if t in before}
    if "intents" in before:  # a job the upgrade queued again was not in ``before``
        kept = {r[0] for r in before["intents"]}
        after["intents"] = [r for r in after["intents"] if r[0] in kept]
    assert after == before
    conn.close()
    checked = run("store", "validate", "--db", str(db_path))
    assert checked.returncode == 0 and "healthy" in checked.stdout, checked.stdout
    assert "upgrades it" not in checked.stdout


def test_an_upgraded_version_1_database_keeps_working(db_path: Path) -> None:
    _version_1(db_path)
    manager = StateManager.open(db_path)  # migrates at open
    assert version(manager.conn) == SCHEMA_VERSION
    assert manager.fire("ghost", HydrateRequested()).target == "HYDRATING"
    manager.fire("photos", RemoteDeleted(writers=False))  # a purge walks the subtree (index)
    manager.close()
    stats = json.loads(run("stats", "--json", "--db", str(db_path)).stdout)
    assert stats["kinds"] == {"file": 6, "folder": 3}  # photos took big.jpg and broken.png
    assert stats["directories"]["files_per_directory_max"] == 6  # Docs, its tombstone counted
    assert run("store", "validate", "--db", str(db_path)).returncode == 0


def test_an_upgraded_version_2_database_requeues_the_job_a_crash_lost(db_path: Path) -> None:
    _version_2(db_path)
    manager = StateManager.open(db_path)
    stuck = manager.conn.execute("SELECT ino FROM items WHERE name = 'stuck.txt'").fetchone()[0]
    assert manager.conn.execute(
        "SELECT kind, job_state FROM intents WHERE ino = ?", (stuck,)
    ).fetchall() == [("upload", "QUEUED")]  # its COMPLETED job queued again by the upgrade
    assert manager.recover_jobs() == 0
    ready = {(j.name, j.kind) for j in ready_jobs(manager.conn, 2e12)}
    # stuck.txt waits for nothing (Docs exists); the pending rename of dirty.md is a move
    assert {("stuck.txt", "upload"), ("renamed.md", "move"), ("draft.txt", "upload")} <= ready
    row = manager.conn.execute(
        "SELECT name, remote_name, remote_parent_ino FROM items WHERE name = 'renamed.md'"
    ).fetchone()
    assert row == ("renamed.md", "renamed.md", 1)  # v2 kept no server name: taken as the row's
    manager.close()
    assert run("store", "validate", "--db", str(db_path)).returncode == 0


def test_an_upgraded_version_3_database_releases_its_held_entries(db_path: Path) -> None:
    _version_3(db_path)
    manager = StateManager.open(db_path)
    # Version 3 kept no parent with a held entry: it is tried with the next page, then waits
    # for its parent; the upload session recorded for its snapshot is kept.
    ingest(manager, [remote("other", "other.txt")], cursor="c-2", writers=set())
    assert manager.conn.execute(
        "SELECT item_id, waits_on FROM delta_held ORDER BY item_id"
    ).fetchall() == [("kid", "orphan-folder"), ("orphan", "later-folder")]
    assert manager.conn.execute("SELECT session_url FROM intents").fetchall() == [
        ("https://up/session",)
    ]
    folders = [
        remote("later-folder", "Later", kind="folder"),
        remote("orphan-folder", "Orphans", "later-folder", kind="folder"),
    ]
    ingest(manager, folders, cursor="c-3", writers=set())
    assert held_entries(manager.conn) == []
    assert q.resolve_path(manager.conn, "/Later/Orphans/kid.txt") is not None
    assert q.resolve_path(manager.conn, "/Later/orphan.txt") is not None
    manager.close()
    assert run("store", "validate", "--db", str(db_path)).returncode == 0


def test_a_failed_upgrade_leaves_the_old_version(db_path: Path) -> None:
    _version_1(db_path)
    conn = apsw.Connection(str(db_path))
    conn.execute("CREATE INDEX items_parent ON items(parent_ino, kind)")  # made by hand
    conn.close()
    checked = run("store", "validate", "--db", str(db_path))
    assert checked.returncode == 1
    assert "schema drift: index items_parent is not part of schema 1" in checked.stdout
    result = run("store", "migrate", "--db", str(db_path))
    assert result.returncode == 1
    assert "from schema version 1 to 2 failed" in result.stderr, result.stderr
    conn = apsw.Connection(str(db_path))
    assert version(conn) == 1
    conn.close()


def test_the_child_queries_use_the_parent_index(manager: StateManager) -> None:
    """Stats, a purge's subtree walk and has_unsent_descendants never scan the whole table."""
    conn = manager.conn
    assert ("index", "items_parent") in schema_objects(conn)  # a fresh database has it
    for sql in (DEPTH_SQL, FILES_PER_DIRECTORY_SQL, _SUBTREE, _UNSENT_DESCENDANT):
        params = (1,) if "?" in sql else ()
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        assert any("INDEX items_parent" in step for step in plan), plan
        assert not any(step in ("SCAN items", "SCAN child") for step in plan), plan
    listing = "SELECT ino FROM items WHERE parent_ino = ? AND ino > ? AND state <> 'DELETED_LOCAL'"
    plan = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {listing} ORDER BY ino", (1, 0))]
    assert plan == ["SEARCH items USING INDEX items_parent (parent_ino=? AND rowid>?)"]


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


def test_a_file_without_the_schema_is_refused_by_the_readers(db_path: Path) -> None:
    db_path.touch()
    for command in (("stats",), ("store", "validate")):
        result = run(*command, "--db", str(db_path))
        assert result.returncode == 1
        assert "no metadata_v2 schema yet (version 0)" in result.stderr, result.stderr


def test_validate_is_quiet_on_a_healthy_database(manager: StateManager, db_path: Path) -> None:
    folder = manager.fire(None, appeared("d", "d", kind="folder"))
    manager.fire(None, created("x", folder.ino))
    env = {**os.environ, "ONEMOUNT_DB": str(db_path)}
    result = run("store", "validate", env=env)
    assert result.returncode == 0, result.stdout
    assert "healthy" in result.stdout


def test_validate_reports_every_kind_of_damage(db_path: Path) -> None:
    manager = fresh_manager(db_path)
    a = manager.fire(None, appeared("a", "a.txt"))
    b = manager.fire(None, appeared("b", "b.txt"))
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
    conn.execute("DROP TRIGGER items_state_only_by_fire")  # the door to state left open
    conn.execute("DROP INDEX items_parent")
    manager.close()
    result = run("store", "validate", "--db", str(db_path))
    assert result.returncode == 1
    for expected in (
        "invariant: inode 2: GHOST: not content_cached fails",
        "unknown state: inode 3: 'LIMBO'",
        "broken parent chain: inode 3",
        "orphan intent: inode 777",
        f"schema drift: trigger items_state_only_by_fire is missing (schema {SCHEMA_VERSION})",
        f"schema drift: index items_parent is missing (schema {SCHEMA_VERSION})",
    ):
        assert expected in result.stdout, result.stdout


def test_stats_json_counts_what_was_fired(manager: StateManager, db_path: Path) -> None:
    folder = manager.fire(None, appeared("d", "d", kind="folder"))
    manager.fire(None, appeared("f", "photo.JPG", "d", size=2048, mtime=1.0))
    manager.fire(None, created("notes", folder.ino, mtime=time.time()))
    result = run("stats", "--json", "--db", str(db_path))
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["states"] == {
        "GHOST": 1,
        "HYDRATING": 0,
        "HYDRATED": 2,
        "DIRTY_LOCAL": 1,
        "DELETED_LOCAL": 0,
        "CONFLICT": 0,
        "ERROR": 0,
    }
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
from tests.store.builders import appeared
manager = StateManager.open(sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    page = [f"w{n}-{i}" for i in range(50)]
    manager.fire_batch([Event(None, appeared(i, i)) for i in page])
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
