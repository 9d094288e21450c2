"""The metadata_v2 schema and its migrations, keyed by ``PRAGMA user_version``.

Each entry of :data:`MIGRATIONS` upgrades the database from version ``index`` to ``index + 1``;
:func:`migrate` runs the missing ones in one transaction at open, so a crash mid-upgrade leaves
the old version intact. A database from a newer onemount is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from onemount.statemachine import default_spec

#: The states a row can be in: the item machine's, without the moment before a row (the
#: initial ABSENT) and after it (the final REMOVED). Derived, never copied: a state added to
#: the spec that the schema's CHECK does not allow fails ``test_schema_states`` until a
#: migration admits it.
STATES = tuple(
    s
    for s in default_spec("item").states
    if s != default_spec("item").initial and s not in default_spec("item").final_states
)
# The list version 1 was created with. Frozen, like every released step.
_V1_STATES = ("GHOST", "HYDRATING", "HYDRATED", "DIRTY_LOCAL", "DELETED_LOCAL", "CONFLICT", "ERROR")
INTENT_KINDS = ("upload", "delete", "move", "mkdir")
ROOT_INODE = 1  # pyfuse3.ROOT_INODE, without importing pyfuse3 into the store

# The columns of ``items`` in the order every SELECT and write of a whole row uses.
ITEM_COLUMNS = (
    "ino",
    "item_id",
    "remote_id",
    "parent_ino",
    "name",
    "name_key",
    "kind",
    "state",
    "virtual",
    "size",
    "etag",
    "ctag",
    "remote_hash",
    "cached_hash",
    "mtime",
    "mode",
    "pinned",
    "overlay_policy",
    "pending_remote",
    "has_local_changes",
    "local_change_seq",
    "last_error",
    "error_kind",
    "error_temporary",
    "hydration_started",
    "hydration_finished",
    "hydration_worker",
    "conflict_remote_etag",
    "conflict_remote_ctag",
    "conflict_remote_hash",
    "conflict_remote_size",
    "conflict_remote_mtime",
    "created",
    "updated",
    "remote_name",
    "remote_name_key",
    "remote_parent_ino",
)

SELECT_ITEMS = f"SELECT {', '.join(ITEM_COLUMNS)} FROM items"


def as_row(found: tuple[Any, ...]) -> dict[str, Any]:
    """A row of :data:`SELECT_ITEMS` as a dict keyed by column name."""
    return dict(zip(ITEM_COLUMNS, found, strict=True))


_STATE_LIST = ", ".join(f"'{s}'" for s in _V1_STATES)
_KIND_LIST = ", ".join(f"'{k}'" for k in INTENT_KINDS)

_V1 = f"""
CREATE TABLE items (
    -- The inode number is the row's key: it survives renames, restarts and the exchange of a
    -- local id for the server's id, and AUTOINCREMENT never hands a purged number out again.
    ino INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL UNIQUE,
    remote_id TEXT UNIQUE,
    parent_ino INTEGER REFERENCES items(ino) DEFERRABLE INITIALLY DEFERRED,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    state TEXT NOT NULL CHECK (state IN ({_STATE_LIST})),
    virtual INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    etag TEXT,
    ctag TEXT,
    remote_hash TEXT,
    cached_hash TEXT,
    mtime REAL,
    mode INTEGER,
    pinned INTEGER NOT NULL DEFAULT 0,
    overlay_policy TEXT,
    pending_remote INTEGER NOT NULL DEFAULT 0,
    has_local_changes INTEGER NOT NULL DEFAULT 0,
    local_change_seq INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    error_kind TEXT,
    error_temporary INTEGER,
    hydration_started REAL,
    hydration_finished REAL,
    hydration_worker TEXT,
    conflict_remote_etag TEXT,
    conflict_remote_ctag TEXT,
    conflict_remote_hash TEXT,
    conflict_remote_size INTEGER,
    conflict_remote_mtime REAL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
-- Inode 1 is the root (pyfuse3.ROOT_INODE); every other item numbers from 2.
INSERT INTO sqlite_sequence(name, seq) VALUES ('items', 1);
-- Live children only: a tombstone's name never blocks a new item of the same name.
CREATE UNIQUE INDEX items_name ON items(parent_ino, name_key) WHERE state <> 'DELETED_LOCAL';
CREATE INDEX items_state ON items(state);

CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    ino INTEGER NOT NULL,   -- no foreign key: the history outlives a purged row
    item_id TEXT NOT NULL,
    machine TEXT NOT NULL,
    from_state TEXT NOT NULL,
    event TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at REAL NOT NULL,
    worker TEXT,
    detail TEXT
);
CREATE INDEX journal_ino ON journal(ino, seq);

CREATE TABLE intents (
    id INTEGER PRIMARY KEY,
    ino INTEGER NOT NULL REFERENCES items(ino) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ({_KIND_LIST})),
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    job_state TEXT NOT NULL DEFAULT 'QUEUED',
    session_url TEXT,
    session_offset INTEGER,
    last_error TEXT,
    UNIQUE (ino, kind)
);
CREATE INDEX intents_due ON intents(next_attempt, id);

CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE xattrs (
    ino INTEGER NOT NULL REFERENCES items(ino) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (ino, name)
) WITHOUT ROWID;

-- The one door to `state`: StateManager.fire inserts a row here at the start of its
-- transaction and deletes it before commit, so outside fire the table is always empty and
-- these triggers refuse any insert, delete or state change of an item.
CREATE TABLE fire_token (token INTEGER NOT NULL);
CREATE TRIGGER items_state_only_by_fire BEFORE UPDATE OF state ON items
WHEN NEW.state IS NOT OLD.state AND NOT EXISTS (SELECT 1 FROM fire_token)
BEGIN SELECT RAISE(ABORT, 'items.state changes only through StateManager.fire'); END;
CREATE TRIGGER items_insert_only_by_fire BEFORE INSERT ON items
WHEN NOT EXISTS (SELECT 1 FROM fire_token)
BEGIN SELECT RAISE(ABORT, 'items rows are created only through StateManager.fire'); END;
CREATE TRIGGER items_delete_only_by_fire BEFORE DELETE ON items
WHEN NOT EXISTS (SELECT 1 FROM fire_token)
BEGIN SELECT RAISE(ABORT, 'items rows are purged only through StateManager.fire'); END;
"""


def _to_v1(conn: apsw.Connection) -> None:
    conn.execute(_V1)


def _to_v2(conn: apsw.Connection) -> None:
    """Index the children of a folder, tombstones included.

    ``items_name`` is partial (live children only), so every query by ``parent_ino`` that may
    see a tombstone (a folder's subtree on purge, ``has_unsent_descendants``, stats, the
    parent checks of validate) scanned the whole table, once per folder level: ``onemount
    stats`` took 20 s on 100,000 items and a purge's subtree walk was quadratic. SQLite
    appends the rowid to every index entry, so this is in effect ``(parent_ino, ino)``: a
    listing's keyset page (``parent_ino = ? AND ino > ? ORDER BY ino``) is a range scan with
    no sort. ``kind`` is deliberately not a second column: it would make stats' counts
    covering but break that order.
    """
    conn.execute("CREATE INDEX items_parent ON items(parent_ino)")


_V3 = """
-- Where the server has the item (as last heard): a move compares it with name and parent, the
-- outbox orders a create behind the move or delete that frees its name on the server.
ALTER TABLE items ADD COLUMN remote_name TEXT;
ALTER TABLE items ADD COLUMN remote_name_key TEXT;
ALTER TABLE items ADD COLUMN remote_parent_ino INTEGER;
UPDATE items SET remote_name = name, remote_name_key = name_key, remote_parent_ino = parent_ino
WHERE remote_id IS NOT NULL;
CREATE INDEX items_remote_name ON items(remote_parent_ino, remote_name_key)
WHERE remote_name_key IS NOT NULL;
-- Live names stay unique among siblings, but the check moves to the end of each transaction:
-- a delta page may swap two names, or move A onto B's name before B leaves it.
DROP INDEX items_name;
CREATE INDEX items_name ON items(parent_ino, name_key) WHERE state <> 'DELETED_LOCAL';
-- Intents rebuilt: AUTOINCREMENT, so a job id is never handed out again (a worker's late
-- outcome for a cancelled job must not land on a newer job that took its number), and the
-- snapshot an upload job sends (immutable bytes: their sequence number, hash and size).
CREATE TABLE intents_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ino INTEGER NOT NULL REFERENCES items(ino) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('upload', 'delete', 'move', 'mkdir')),
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    job_state TEXT NOT NULL DEFAULT 'QUEUED',
    session_url TEXT,
    session_offset INTEGER,
    last_error TEXT,
    snapshot_seq INTEGER,
    snapshot_hash TEXT,
    snapshot_size INTEGER,
    UNIQUE (ino, kind)
);
INSERT INTO intents_v3 (id, ino, kind, created, attempts, next_attempt, job_state, session_url,
    session_offset, last_error)
SELECT id, ino, kind, created, attempts, next_attempt, job_state, session_url, session_offset,
    last_error FROM intents;
DROP TABLE intents;
ALTER TABLE intents_v3 RENAME TO intents;
-- A finished job leaves the outbox in the transaction that records its outcome. Earlier
-- versions left them in a final state, and a crash between a job's outcome and its item's
-- event left a dirty item behind a COMPLETED job that was never due again: that content job is
-- queued once more, every other finished one is swept.
UPDATE intents SET job_state = 'QUEUED', attempts = 0, session_url = NULL, session_offset = NULL
WHERE job_state IN ('COMPLETED', 'CONFLICTED', 'FAILED', 'CANCELLED')
AND kind IN ('upload', 'mkdir') AND ino IN (SELECT ino FROM items WHERE state = 'DIRTY_LOCAL');
DELETE FROM intents WHERE job_state IN ('COMPLETED', 'CONFLICTED', 'FAILED', 'CANCELLED');
CREATE INDEX intents_ready ON intents(next_attempt) WHERE job_state IN ('QUEUED', 'WAITING_RETRY');
-- Delta entries that could not be applied yet (parent not arrived, name still taken, a name
-- Linux cannot show): kept with the reason and retried with every later page.
CREATE TABLE delta_held (
    item_id TEXT PRIMARY KEY,
    entry TEXT NOT NULL,
    reason TEXT NOT NULL,
    since REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE INDEX journal_at ON journal(at);
"""


def _to_v3(conn: apsw.Connection) -> None:
    """Server placement, names checked at commit, upload snapshots, held delta entries."""
    conn.execute(_V3)


# Frozen: a released step is never edited (databases out there ran it); a change of the
# schema is a new step, with a fixture of the previous version in tests/store/fixtures.
_V4 = """
-- The remote id a held entry waits for (its parent's), NULL when it waits for something else (a
-- name, a cycle): a page retries only the entries it can release, not every held one (with
-- children listed before their folders, a first enumeration re-read every waiting entry with
-- every page, quadratic in the drive).
ALTER TABLE delta_held ADD COLUMN waits_on TEXT;
CREATE INDEX delta_held_waits_on ON delta_held(waits_on) WHERE waits_on IS NOT NULL;
"""


def _to_v4(conn: apsw.Connection) -> None:
    """Held delta entries say which parent they wait for."""
    conn.execute(_V4)


MIGRATIONS: tuple[Callable[[apsw.Connection], None], ...] = (_to_v1, _to_v2, _to_v3, _to_v4)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(RuntimeError):
    """The database cannot be used by this version of onemount."""


def version(conn: apsw.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: apsw.Connection) -> tuple[int, int]:
    """Upgrade ``conn`` to :data:`SCHEMA_VERSION`; returns ``(from, to)``.

    Runs under an immediate transaction, so two processes opening one fresh file do not both
    create the schema, and a crash mid-upgrade rolls back to the old version.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = version(conn)
        check_supported(start)
        for step in range(start, SCHEMA_VERSION):
            try:
                MIGRATIONS[step](conn)
            except apsw.Error as exc:  # e.g. an object of that name made by hand
                raise SchemaError(
                    f"upgrading metadata_v2 from schema version {step} to {step + 1}"
                    f" failed: {exc}; the database is left at version {start}"
                ) from exc
            conn.execute(f"PRAGMA user_version = {step + 1}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return start, SCHEMA_VERSION


def check_supported(found: int) -> None:
    """Refuse a database written by a newer onemount: its meaning of the rows is unknown."""
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"metadata_v2 schema version {found} is newer than this onemount supports "
            f"({SCHEMA_VERSION}); upgrade onemount or use another database"
        )


def schema_objects(conn: apsw.Connection) -> dict[tuple[str, str], str]:
    """The tables, indexes and triggers of ``conn`` as ``(type, name) -> SQL``.

    SQLite's own objects (``sqlite_sequence``, the automatic indexes of UNIQUE constraints)
    are left out: they follow from the tables' SQL. Whitespace is collapsed so that a dump and
    reload compares equal.
    """
    return {
        (kind, name): " ".join(str(sql).split())
        for kind, name, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE substr(name, 1, 7) <> 'sqlite_'"
        )
    }


def expected_objects(at_version: int) -> dict[tuple[str, str], str]:
    """What :func:`schema_objects` of a healthy database of ``at_version`` returns.

    Built by running the migrations themselves on an empty in-memory database, so the
    expectation can never disagree with what ``migrate`` creates.
    """
    conn = apsw.Connection(":memory:")
    try:
        for step in MIGRATIONS[:at_version]:
            step(conn)
        return schema_objects(conn)
    finally:
        conn.close()
