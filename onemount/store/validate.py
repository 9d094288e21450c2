"""``onemount store validate``: every way a metadata_v2 database can be wrong, listed.

The state checks use the spec's own invariants (per state and global) on the abstract fields,
so a change of the spec changes what validation demands without touching this module. The
schema check compares the file's tables, indexes and triggers with what the migrations build
for the version the file declares: a missing index (queries turn into table scans) or a
dropped state trigger (the one door to ``state`` is open) is found before it does harm.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import apsw

from onemount.statemachine import default_spec
from onemount.store.fields import abstract_fields
from onemount.store.schema import (
    ITEM_COLUMNS,
    ROOT_INODE,
    STATES,
    as_row,
    expected_objects,
    schema_objects,
    version,
)


@dataclass(frozen=True)
class Finding:
    kind: str
    ino: int | None
    message: str

    def __str__(self) -> str:
        where = f"inode {self.ino}: " if self.ino is not None else ""
        return f"{self.kind}: {where}{self.message}"


def validate(conn: apsw.Connection) -> list[Finding]:
    """All findings; an empty list means the database is healthy."""
    declared = version(conn)
    if declared == 0:
        return [Finding("schema drift", None, "no metadata_v2 schema (version 0)")]
    expected, actual = expected_objects(declared), schema_objects(conn)
    drift = list(_schema_drift(expected, actual, declared))
    if any(kind == "table" and (kind, name) not in actual for kind, name in expected):
        return drift  # the row checks below need every table
    return [
        *drift,
        *_states(conn),
        *_parents(conn),
        *_duplicate_names(conn),
        *_orphan_intents(conn),
        *_integrity(conn),
    ]


def _schema_drift(
    expected: dict[tuple[str, str], str], actual: dict[tuple[str, str], str], declared: int
) -> Iterator[Finding]:
    for kind, name in sorted(expected.keys() | actual.keys()):
        if (kind, name) not in actual:
            yield Finding("schema drift", None, f"{kind} {name} is missing (schema {declared})")
        elif (kind, name) not in expected:
            yield Finding("schema drift", None, f"{kind} {name} is not part of schema {declared}")
        elif actual[kind, name] != expected[kind, name]:
            yield Finding("schema drift", None, f"{kind} {name} differs from schema {declared}")


def _states(conn: apsw.Connection) -> Iterator[Finding]:
    spec = default_spec("item")
    known = set(STATES)
    # A file of an older version lacks later columns: read what it has, the rest as NULL.
    present = {str(r[1]) for r in conn.execute("PRAGMA table_info(items)")}
    columns = ", ".join(c if c in present else f"NULL AS {c}" for c in ITEM_COLUMNS)
    for found in conn.execute(f"SELECT {columns} FROM items"):
        row = as_row(found)
        state = row["state"]
        if state not in known:
            yield Finding("unknown state", row["ino"], repr(state))
            continue
        if row["kind"] not in ("file", "folder"):
            yield Finding("invalid row", row["ino"], f"kind {row['kind']!r}")
        values = abstract_fields(conn, row)
        for invariant in (*spec.state_invariants.get(state, ()), *spec.invariants):
            if not invariant(values):
                yield Finding("invariant", row["ino"], f"{state}: {invariant.source} fails")


def _parents(conn: apsw.Connection) -> Iterator[Finding]:
    for ino, parent in conn.execute(
        "SELECT ino, parent_ino FROM items WHERE ino <> ? AND (parent_ino IS NULL"
        " OR parent_ino NOT IN (SELECT ino FROM items))",
        (ROOT_INODE,),
    ):
        yield Finding("broken parent chain", ino, f"parent {parent} does not exist")
    for (ino,) in conn.execute(
        "SELECT ino FROM items WHERE parent_ino IN (SELECT ino FROM items WHERE kind <> 'folder')"
    ):
        yield Finding("broken parent chain", ino, "parent is not a folder")
    # A cycle: an item from which the parent chain never reaches the root.
    for (ino,) in conn.execute(
        """
        WITH RECURSIVE up(start, ino, steps) AS (
            SELECT ino, parent_ino, 0 FROM items
            UNION ALL SELECT up.start, items.parent_ino, up.steps + 1
            FROM up JOIN items ON items.ino = up.ino
            WHERE up.ino <> ? AND up.steps < 1000
        )
        SELECT DISTINCT start FROM up WHERE steps >= 1000
        """,
        (ROOT_INODE,),
    ):
        yield Finding("broken parent chain", ino, "the parent chain is a cycle")


def _duplicate_names(conn: apsw.Connection) -> Iterator[Finding]:
    for parent, key, count in conn.execute(
        "SELECT parent_ino, name_key, count(*) FROM items WHERE state <> 'DELETED_LOCAL'"
        " GROUP BY parent_ino, name_key HAVING count(*) > 1"
    ):
        yield Finding("duplicate name", parent, f"{count} live children named {key!r}")


def _orphan_intents(conn: apsw.Connection) -> Iterator[Finding]:
    for intent, ino, kind in conn.execute(
        "SELECT id, ino, kind FROM intents WHERE ino NOT IN (SELECT ino FROM items)"
    ):
        yield Finding("orphan intent", ino, f"{kind} intent {intent} has no item")


def _integrity(conn: apsw.Connection) -> Iterator[Finding]:
    for (message,) in conn.execute("PRAGMA quick_check"):
        if message != "ok":
            yield Finding("corruption", None, str(message))
