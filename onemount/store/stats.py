"""``onemount stats``: a picture of the drive and the outbox, from metadata_v2 alone.

Runs on a read-only connection, so it can look at the database of a running mount: WAL lets a
reader see the last committed snapshot while the writer goes on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import apsw

from onemount.store.schema import ROOT_INODE, STATES

KB, MB, GB = 1024, 1024**2, 1024**3
SIZE_BUCKETS = (
    ("empty", 0, 1),
    ("<1 KB", 1, KB),
    ("1 KB-1 MB", KB, MB),
    ("1-10 MB", MB, 10 * MB),
    ("10-100 MB", 10 * MB, 100 * MB),
    ("100 MB-1 GB", 100 * MB, GB),
    (">1 GB", GB, None),
)
DAY = 86400.0
AGE_BUCKETS = (
    ("today", DAY),
    ("this week", 7 * DAY),
    ("this month", 30 * DAY),
    ("last 3 months", 91 * DAY),
    ("this year", 365 * DAY),
    ("older", None),
)
TOP_EXTENSIONS = 15
LAST_TRANSITIONS = 10


def collect(conn: apsw.Connection, *, now: float | None = None) -> dict[str, Any]:
    """Every figure of ``onemount stats`` as plain JSON-able data."""
    now = time.time() if now is None else now
    return {
        # Every state a row can be in, zeros included, so two outputs always line up.
        "states": dict.fromkeys(STATES, 0)
        | dict(conn.execute("SELECT state, count(*) FROM items GROUP BY state ORDER BY 1")),
        "kinds": dict(conn.execute("SELECT kind, count(*) FROM items GROUP BY kind ORDER BY 1")),
        "directories": _directories(conn),
        "sizes": _histogram(conn, "size", SIZE_BUCKETS),
        "extensions": _extensions(conn),
        "ages": _ages(conn, now),
        "intents": _intents(conn),
        "last_transitions": _last_transitions(conn),
        "cache": _cache(conn),
    }


# Both walk a folder's children through the items_parent index (schema version 2); without it
# each was a scan of the whole table per folder, 20 s on 100,000 items.
DEPTH_SQL = """
WITH RECURSIVE tree(ino, depth) AS (
    SELECT ino, 0 FROM items WHERE ino = ?
    UNION ALL SELECT items.ino, tree.depth + 1
    FROM items JOIN tree ON items.parent_ino = tree.ino WHERE items.kind = 'folder'
)
SELECT coalesce(max(depth), 0), coalesce(avg(depth), 0) FROM tree
"""
FILES_PER_DIRECTORY_SQL = """
SELECT coalesce(max(n), 0), coalesce(avg(n), 0) FROM (
    SELECT folder.ino, count(child.ino) AS n FROM items AS folder
    LEFT JOIN items AS child ON child.parent_ino = folder.ino AND child.kind = 'file'
    WHERE folder.kind = 'folder' GROUP BY folder.ino
)
"""


def _directories(conn: apsw.Connection) -> dict[str, float]:
    depth = conn.execute(DEPTH_SQL, (ROOT_INODE,)).fetchone()
    files = conn.execute(FILES_PER_DIRECTORY_SQL).fetchone()
    assert depth is not None and files is not None  # aggregates always return a row
    return {
        "depth_max": depth[0],
        "depth_mean": round(depth[1], 2),
        "files_per_directory_max": files[0],
        "files_per_directory_mean": round(files[1], 2),
    }


def _histogram(
    conn: apsw.Connection,
    value: str,
    buckets: Sequence[tuple[str, float, float | None]],
    params: tuple[Any, ...] = (),
) -> dict[str, int]:
    """Files per ``[low, high)`` bucket of the SQL expression ``value``, in one table scan.

    A count per bucket was a scan per bucket: 13 scans of 100,000 rows for sizes and ages.
    The bounds are this module's constants, not user input, so they are inlined as literals.
    """
    terms = ", ".join(
        f"coalesce(sum(v >= {low!r}{'' if high is None else f' AND v < {high!r}'}), 0)"
        for _, low, high in buckets
    )
    found = conn.execute(
        f"SELECT {terms} FROM (SELECT {value} AS v FROM items WHERE kind = 'file')", params
    ).fetchone()
    assert found is not None  # aggregates always return a row
    return {label: int(n) for (label, _, _), n in zip(buckets, found, strict=True)}


def _extensions(conn: apsw.Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (name,) in conn.execute("SELECT name FROM items WHERE kind = 'file'"):
        stem, dot, ext = str(name).rpartition(".")
        key = ext.lower() if dot and stem else "(none)"
        counts[key] = counts.get(key, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = dict(top[:TOP_EXTENSIONS])
    rest = sum(n for _, n in top[TOP_EXTENSIONS:])
    if rest:
        shown["(other)"] = rest
    return shown


def _ages(conn: apsw.Connection, now: float) -> dict[str, int]:
    lowers = (0.0, *(span for _, span in AGE_BUCKETS[:-1]))
    buckets = [(label, low, span) for (label, span), low in zip(AGE_BUCKETS, lowers, strict=True)]
    return _histogram(conn, "? - mtime", buckets, (now,))


def _intents(conn: apsw.Connection) -> dict[str, Any]:
    waiting = dict(conn.execute("SELECT kind, count(*) FROM intents GROUP BY kind ORDER BY 1"))
    oldest = conn.execute(
        "SELECT intents.kind, intents.created, intents.ino, items.name FROM intents"
        " JOIN items USING (ino) ORDER BY intents.created, intents.id LIMIT 1"
    ).fetchone()
    return {
        "waiting": waiting,
        "oldest": None
        if oldest is None
        else {"kind": oldest[0], "created": oldest[1], "ino": oldest[2], "name": oldest[3]},
    }


def _last_transitions(conn: apsw.Connection) -> list[dict[str, Any]]:
    keys = ("at", "ino", "machine", "from", "event", "to")
    rows = conn.execute(
        "SELECT at, ino, machine, from_state, event, to_state FROM journal"
        " ORDER BY seq DESC LIMIT ?",
        (LAST_TRANSITIONS,),
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]


def _cache(conn: apsw.Connection) -> dict[str, Any]:
    cached = conn.execute(
        "SELECT coalesce(sum(size), 0) FROM items WHERE kind = 'file' AND cached_hash IS NOT NULL"
    ).fetchone()
    limit = conn.execute("SELECT value FROM kv WHERE key = 'cache_limit_bytes'").fetchone()
    return {
        "cached_bytes": cached[0] if cached else 0,
        "limit_bytes": int(limit[0]) if limit else None,
    }


def render(stats: dict[str, Any]) -> str:
    """The human form of :func:`collect`."""
    lines: list[str] = []

    def section(title: str, values: dict[str, Any]) -> None:
        lines.append(f"{title}:")
        lines.extend(f"  {key:<24} {value}" for key, value in values.items())

    section("items by state", stats["states"])
    section("items by kind", stats["kinds"])
    section("directories", stats["directories"])
    section("file sizes", stats["sizes"])
    section("extensions", stats["extensions"])
    section("file ages (mtime)", stats["ages"])
    section("intents waiting", stats["intents"]["waiting"] or {"(none)": 0})
    oldest = stats["intents"]["oldest"]
    if oldest is not None:
        age = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(oldest["created"]))
        lines.append(f"  oldest: {oldest['kind']} of {oldest['name']!r} since {age} UTC")
    lines.append("last transitions:")
    for t in stats["last_transitions"]:
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t["at"]))
        lines.append(f"  {at} inode {t['ino']} {t['from']} --{t['event']}--> {t['to']}")
    cache = stats["cache"]
    limit = "no limit" if cache["limit_bytes"] is None else f"{cache['limit_bytes']} bytes"
    lines.append(f"cache: {cache['cached_bytes']} bytes cached of {limit}")
    return "\n".join(lines)
