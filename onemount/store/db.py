"""Opening metadata_v2: one writer connection, any number of read-only ones.

WAL with ``synchronous=NORMAL``: a commit survives a crash of the process (the WAL is in the
OS page cache); a power loss may drop the last transactions but never corrupts the file. See
docs/store.md for why the outbox does not need FULL.
"""

from __future__ import annotations

from pathlib import Path

import apsw
import apsw.bestpractice

from onemount.store.schema import SchemaError, check_supported, migrate, version

_BUSY_TIMEOUT_MS = 5000


def _common(conn: apsw.Connection) -> None:
    apsw.bestpractice.connection_dqs(conn)  # "name" is an identifier, never a string
    conn.set_busy_timeout(_BUSY_TIMEOUT_MS)
    conn.execute("PRAGMA foreign_keys = ON")
    # Savepoints' sub-journals and sorts in memory, not in temporary files: every delta page
    # runs in a savepoint, and a file-backed sub-journal cost a third of a first enumeration's
    # CPU (60-80 against 37-51 µs an item, bench_store). Both are bounded by one page's work.
    conn.execute("PRAGMA temp_store = MEMORY")


def connect_writer(path: str | Path) -> apsw.Connection:
    """A writable connection with the store's settings, not yet migrated."""
    conn = apsw.Connection(str(path))
    _common(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def open_writer(path: str | Path) -> apsw.Connection:
    """The single writer connection, migrated to the current schema."""
    conn = connect_writer(path)
    migrate(conn)
    return conn


def open_reader(path: str | Path) -> apsw.Connection:
    """A read-only connection (FUSE lookups, ``onemount stats``); never migrates or writes."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no metadata_v2 database at {path}")
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        _common(conn)
        found = version(conn)
        check_supported(found)
        if found == 0:  # every query would fail with "no such table"
            raise SchemaError(
                f"{path} has no metadata_v2 schema yet (version 0);"
                " `onemount store migrate` creates it"
            )
    except BaseException:
        conn.close()
        raise
    return conn
