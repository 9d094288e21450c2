"""Read queries for the layers above (FUSE, engine, CLI), on any connection.

Every query hides tombstones (DELETED_LOCAL): a deleted name is gone from listings and lookups
at once, and a new item may take it. Paths come from the parent chain, never from the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import apsw

from onemount.store.item_bindings import Row
from onemount.store.names import name_key
from onemount.store.schema import ROOT_INODE, SELECT_ITEMS, as_row

_LIVE = "state <> 'DELETED_LOCAL'"


def _row(found: tuple[object, ...] | None) -> Row | None:
    return None if found is None else as_row(found)


def get(conn: apsw.Connection, ino: int) -> Row | None:
    """The row of ``ino`` (tombstones included: an open handle may still name one)."""
    return _row(conn.execute(f"{SELECT_ITEMS} WHERE ino = ?", (ino,)).fetchone())


def root(conn: apsw.Connection) -> Row | None:
    """The root item, from the store alone (no network)."""
    return get(conn, ROOT_INODE)


def lookup(conn: apsw.Connection, parent_ino: int, name: str) -> Row | None:
    """The live child of ``parent_ino`` called ``name``, compared NFC and case-folded."""
    found = conn.execute(
        f"{SELECT_ITEMS} WHERE parent_ino = ? AND name_key = ? AND {_LIVE}",
        (parent_ino, name_key(name)),
    ).fetchone()
    return _row(found)


def lookup_ino(conn: apsw.Connection, parent_ino: int, name: str) -> int | None:
    """Only the inode of :func:`lookup` (the FUSE hot path reads nothing else first)."""
    found = conn.execute(
        f"SELECT ino FROM items WHERE parent_ino = ? AND name_key = ? AND {_LIVE}",
        (parent_ino, name_key(name)),
    ).fetchone()
    return None if found is None else int(found[0])


def children(
    conn: apsw.Connection, parent_ino: int, *, after: int = 0, limit: int = 1000
) -> list[Row]:
    """Live children in inode order, from just after inode ``after``.

    Keyset pagination on the inode: stable while entries are added or removed, and the last
    row's ``ino`` is the next page's ``after``, so it serves directly as a FUSE readdir offset.
    Pending creations (DIRTY_LOCAL never uploaded) are listed; tombstones are not.
    """
    rows = conn.execute(
        f"{SELECT_ITEMS} WHERE parent_ino = ? AND ino > ? AND {_LIVE} ORDER BY ino LIMIT ?",
        (parent_ino, after, limit),
    )
    return [as_row(r) for r in rows]


def path_of(conn: apsw.Connection, ino: int) -> str | None:
    """``/a/b/c`` from the parent chain; ``None`` if the item or a link of its chain is gone."""
    parts: list[str] = []
    current: int | None = ino
    seen: set[int] = set()
    while current is not None and current != ROOT_INODE:
        if current in seen:
            return None  # a cycle: validate reports it; never loop forever on a bad row
        seen.add(current)
        found = conn.execute(
            "SELECT parent_ino, name FROM items WHERE ino = ?", (current,)
        ).fetchone()
        if found is None:
            return None
        current, name = found
        parts.append(name)
    if current is None and ino != ROOT_INODE:
        return None
    return "/" + "/".join(reversed(parts))


def resolve_path(conn: apsw.Connection, path: str) -> int | None:
    """The inode at ``path`` (case-insensitive per component), or ``None``."""
    ino = ROOT_INODE
    for part in (p for p in path.split("/") if p):
        found = lookup_ino(conn, ino, part)
        if found is None:
            return None
        ino = found
    return ino if get(conn, ino) is not None else None


def in_state(conn: apsw.Connection, state: str) -> Iterator[Row]:
    for found in conn.execute(f"{SELECT_ITEMS} WHERE state = ? ORDER BY ino", (state,)):
        yield as_row(found)


class Attrs(NamedTuple):
    """What getattr and a readdir entry need, and nothing else (no 37-column dict)."""

    ino: int
    kind: str
    size: int
    mtime: float | None
    mode: int | None
    created: float
    updated: float
    state: str


class Entry(NamedTuple):
    """One live child for readdir: its name and attributes."""

    name: str
    attrs: Attrs


_ATTR_COLUMNS = "ino, kind, size, mtime, mode, created, updated, state"
_ATTRS_BY_INO = f"SELECT {_ATTR_COLUMNS} FROM items WHERE ino = ?"
_ATTRS_BY_NAME = (
    f"SELECT {_ATTR_COLUMNS} FROM items WHERE parent_ino = ? AND name_key = ? AND {_LIVE}"
)
_ENTRIES = (
    f"SELECT name, {_ATTR_COLUMNS} FROM items WHERE parent_ino = ? AND ino > ? AND {_LIVE}"
    " ORDER BY ino LIMIT ?"
)


def attrs(conn: apsw.Connection, ino: int) -> Attrs | None:
    """getattr's columns of ``ino`` (tombstones included: an open handle may name one)."""
    found = conn.execute(_ATTRS_BY_INO, (ino,)).fetchone()
    return None if found is None else Attrs(*found)


def lookup_attrs(conn: apsw.Connection, parent_ino: int, name: str) -> Attrs | None:
    """lookup's answer in one statement: the live child called ``name`` and its attributes."""
    found = conn.execute(_ATTRS_BY_NAME, (parent_ino, name_key(name))).fetchone()
    return None if found is None else Attrs(*found)


def entries(
    conn: apsw.Connection, parent_ino: int, *, after: int = 0, limit: int = 1000
) -> list[Entry]:
    """A readdir page: live children by inode after ``after`` (the offset), with attributes."""
    return [
        Entry(name, Attrs(*rest))
        for name, *rest in conn.execute(_ENTRIES, (parent_ino, after, limit))
    ]


def kv(conn: apsw.Connection, key: str) -> str | None:
    found = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if found is None else str(found[0])


def xattrs(conn: apsw.Connection, ino: int) -> dict[str, bytes]:
    return {
        name: bytes(value)
        for name, value in conn.execute("SELECT name, value FROM xattrs WHERE ino = ?", (ino,))
    }
