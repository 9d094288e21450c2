"""What a running mount tells ``onemount status``, ``pin`` and ``conflicts``, and does for them.

The FUSE layer's control server (:mod:`onemount.fs.control`) answers ``status``, ``sync`` and
``unmount`` itself and hands every other command to :func:`answer`, with the mount's
:class:`~onemount.engine.engine.Engine`. The channel carries one string per request, so a
command is a word optionally followed by a space and a JSON object of arguments
(:func:`encode` makes one)::

    report                                          the mount, its outbox, cache and conflicts
    subtree {"path": "/Pictures"}                   how much of a folder's content is here
    resolve {"path": "/a.txt", "keep": "both"}      resolve a conflict

Paths are the drive's (``/`` is the mount's root). An answer is a JSON object; a refusal is
``{"error": "..."}``, one line written for the user, about the path asked for (which the
client names in its own words). Everything here reads the store on the trio
thread's read-only connection, so an answer is one consistent picture and costs the mount a few
indexed queries, never a request to Graph.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypedDict, cast, get_args

import trio

from onemount.engine.conflicts import Keep
from onemount.engine.errors import EngineError
from onemount.statemachine import InvalidTransition
from onemount.store import UnknownItem
from onemount.store import queries as q
from onemount.store.schema import INTENT_KINDS

if TYPE_CHECKING:
    import apsw

    from onemount.engine.engine import Engine

Answer = dict[str, Any]

#: At most this many paths are named per list in an answer (counts are always complete).
LISTED = 20


class Intent(TypedDict):
    kind: str
    path: str
    since: float


class Retrying(TypedDict):
    kind: str
    path: str
    error: str
    attempts: int
    next_attempt: float


class Outbox(TypedDict):
    pending: int
    by_kind: dict[str, int]  # every kind, zeros included
    by_state: dict[str, int]
    oldest: Intent | None
    sending: list[str]
    retrying: list[Retrying]


class ItemError(TypedDict):
    path: str
    error: str
    kind: str | None
    unsent: bool  # local bytes the server does not have


class ConflictEntry(TypedDict):
    path: str
    local_size: int
    remote_size: int | None
    remote_gone: bool
    since: float


class Cache(TypedDict):
    used_bytes: int
    limit_bytes: int | None
    free_bytes: int
    min_free_bytes: int


class Report(TypedDict):
    connectivity: str
    throttled_for: float | None
    mount_state: str
    enumerated: bool
    read_only: bool
    outbox: Outbox
    hydrating: int
    hydrating_paths: list[str]
    cache: Cache
    conflicts: list[ConflictEntry]
    errors: int
    error_items: list[ItemError]


class Subtree(TypedDict):
    path: str
    files: int
    pinned: int
    cached: int
    bytes: int
    cached_bytes: int
    hydrating: int
    errors: list[ItemError]
    connectivity: str


def encode(name: str, args: dict[str, Any] | None = None) -> str:
    """The command string for ``name`` with ``args`` (what :func:`answer` takes apart)."""
    return name if not args else f"{name} {json.dumps(args, separators=(',', ':'))}"


class _Refused(Exception):
    """A request that cannot be answered; the message is the user's one line."""


async def answer(engine: Engine, command: str) -> Answer:
    """The answer to ``command`` (see the module docstring), or ``{"error": ...}``."""
    name, _, rest = command.partition(" ")
    handler = _HANDLERS.get(name)
    if handler is None:
        return {"error": f"unknown command {name!r}"}
    try:
        args = json.loads(rest) if rest else {}
        if not isinstance(args, dict):
            raise _Refused(f"{name}: the arguments must be a JSON object")
        return await handler(engine, args)
    except json.JSONDecodeError:
        return {"error": f"{name}: the arguments are not JSON"}
    except _Refused as exc:
        return {"error": str(exc)}


# -- report ------------------------------------------------------------------------------------


async def report(engine: Engine, args: dict[str, Any]) -> Answer:
    """The mount at a glance: connectivity, outbox, downloads, cache, conflicts and errors."""
    reader = engine.store.reader
    throttled = engine.connectivity.throttled_until - trio.current_time()
    throttled_for = round(throttled, 1) if throttled > 0 and math.isfinite(throttled) else None
    usage = engine.content.usage()
    hydrating = [int(i) for (i,) in reader.execute(_HYDRATING)]
    errors = _count(reader, "SELECT count(*) FROM items WHERE state = 'ERROR'")
    found: Report = {
        "connectivity": engine.connectivity.state,
        "throttled_for": throttled_for,
        "mount_state": engine.delta.mount_state,
        "enumerated": engine.delta.enumerated,
        "read_only": engine.config.read_only,
        "outbox": _outbox(reader),
        "hydrating": len(hydrating),
        "hydrating_paths": [_path(reader, ino) for ino in hydrating[:LISTED]],
        "cache": {
            "used_bytes": usage.used_bytes,
            "limit_bytes": usage.limit_bytes,
            "free_bytes": usage.free_bytes,
            "min_free_bytes": usage.min_free_bytes,
        },
        "conflicts": [
            {
                "path": c.path,
                "local_size": c.local_size,
                "remote_size": c.remote_size,
                "remote_gone": c.remote_gone,
                "since": c.since,
            }
            for c in engine.conflicts.list()
        ],
        "errors": errors,
        "error_items": _errors(reader, _ERRORS, ()),
    }
    return cast(Answer, found)


_HYDRATING = "SELECT ino FROM items WHERE state = 'HYDRATING' ORDER BY ino"
_ERRORS = (
    "SELECT ino, last_error, error_kind, has_local_changes FROM items WHERE state = 'ERROR'"
    " ORDER BY has_local_changes DESC, ino LIMIT ?"
)


def _outbox(reader: apsw.Connection) -> Outbox:
    by_kind = dict.fromkeys(INTENT_KINDS, 0)
    by_kind.update(
        {str(k): int(n) for k, n in reader.execute("SELECT kind, count(*) FROM intents GROUP BY 1")}
    )
    by_state = {
        str(s): int(n)
        for s, n in reader.execute("SELECT job_state, count(*) FROM intents GROUP BY 1 ORDER BY 1")
    }
    oldest = reader.execute(
        "SELECT kind, ino, created FROM intents ORDER BY created, id LIMIT 1"
    ).fetchone()
    sending = reader.execute(
        "SELECT ino FROM intents WHERE job_state = 'UPLOADING' ORDER BY id LIMIT ?", (LISTED,)
    )
    retrying = reader.execute(
        "SELECT kind, ino, last_error, attempts, next_attempt FROM intents"
        " WHERE last_error IS NOT NULL ORDER BY next_attempt LIMIT ?",
        (LISTED,),
    )
    return {
        "pending": sum(by_kind.values()),
        "by_kind": by_kind,
        "by_state": by_state,
        "oldest": None
        if oldest is None
        else {"kind": str(oldest[0]), "path": _path(reader, int(oldest[1])), "since": oldest[2]},
        "sending": [_path(reader, int(ino)) for (ino,) in sending],
        "retrying": [
            {
                "kind": str(kind),
                "path": _path(reader, int(ino)),
                "error": str(error),
                "attempts": int(attempts),
                "next_attempt": float(due),
            }
            for kind, ino, error, attempts, due in retrying
        ],
    }


def _errors(reader: apsw.Connection, sql: str, params: tuple[Any, ...]) -> list[ItemError]:
    return [
        {
            "path": _path(reader, int(ino)),
            "error": str(error or "failed"),
            "kind": None if kind is None else str(kind),
            "unsent": bool(unsent),
        }
        for ino, error, kind, unsent in reader.execute(sql, (*params, LISTED))
    ]


def _count(reader: apsw.Connection, sql: str) -> int:
    found = reader.execute(sql).fetchone()
    return 0 if found is None else int(found[0])


def _path(reader: apsw.Connection, ino: int) -> str:
    return q.path_of(reader, ino) or f"(inode {ino})"


# -- subtree (pin progress) -------------------------------------------------------------------

#: A file whose bytes are all here (what a pinned file is waiting to become).
_HERE = (
    "(i.state IN ('HYDRATED', 'DIRTY_LOCAL', 'CONFLICT')"
    " OR (i.state = 'ERROR' AND i.has_local_changes = 1))"
)
_SUBTREE = f"""
WITH RECURSIVE sub(ino) AS (
    SELECT ?1 UNION ALL SELECT i.ino FROM items i JOIN sub ON i.parent_ino = sub.ino
    WHERE i.state <> 'DELETED_LOCAL'
)
SELECT count(*), coalesce(sum(i.pinned), 0), coalesce(sum({_HERE}), 0), coalesce(sum(i.size), 0),
       coalesce(sum(CASE WHEN {_HERE} THEN i.size ELSE 0 END), 0),
       coalesce(sum(i.state = 'HYDRATING'), 0)
FROM sub JOIN items i USING (ino) WHERE i.kind = 'file' AND i.virtual = 0
"""
_SUBTREE_ERRORS = """
WITH RECURSIVE sub(ino) AS (
    SELECT ?1 UNION ALL SELECT i.ino FROM items i JOIN sub ON i.parent_ino = sub.ino
    WHERE i.state <> 'DELETED_LOCAL'
)
SELECT i.ino, i.last_error, i.error_kind, i.has_local_changes FROM sub JOIN items i USING (ino)
WHERE i.state = 'ERROR' ORDER BY i.ino LIMIT ?2
"""


async def subtree(engine: Engine, args: dict[str, Any]) -> Answer:
    """The files at or below ``path``: how many are pinned, how many (and bytes) are here."""
    reader = engine.store.reader
    path = _drive_path(args)
    ino = q.resolve_path(reader, path)
    if ino is None:
        raise _Refused("no such file or folder on this mount")
    counts = reader.execute(_SUBTREE, (ino,)).fetchone()
    assert counts is not None  # aggregates always return a row
    files, pinned, cached, size, cached_bytes, hydrating = (int(n) for n in counts)
    found: Subtree = {
        "path": q.path_of(reader, ino) or path,
        "files": files,
        "pinned": pinned,
        "cached": cached,
        "bytes": size,
        "cached_bytes": cached_bytes,
        "hydrating": hydrating,
        "errors": _errors(reader, _SUBTREE_ERRORS, (ino,)),
        "connectivity": engine.connectivity.state,
    }
    return cast(Answer, found)


# -- conflicts ---------------------------------------------------------------------------------


async def resolve(engine: Engine, args: dict[str, Any]) -> Answer:
    """Resolve the conflict at ``path`` by ``keep`` (local, remote or both)."""
    reader = engine.store.reader
    path = _drive_path(args)
    keep = args.get("keep")
    if keep not in get_args(Keep):
        raise _Refused(f"keep must be one of {', '.join(get_args(Keep))}, not {keep!r}")
    ino = q.resolve_path(reader, path)
    if ino is None:
        raise _Refused("no such file on this mount")
    row = q.get(reader, ino)
    if row is None or row["state"] != "CONFLICT":
        state = "gone" if row is None else row["state"]
        raise _Refused(f"not in conflict (it is {state})")
    try:
        copy = await engine.conflicts.resolve(ino, cast(Keep, keep))
    except EngineError as exc:  # FileBusy: open for writing
        raise _Refused(_reason(exc, ino)) from None
    except (InvalidTransition, UnknownItem):
        raise _Refused("it changed meanwhile; look again with `onemount conflicts list`") from None
    return {
        "path": q.path_of(reader, ino) or path,
        "kept": keep,
        "copy": None if copy is None else q.path_of(reader, copy),
    }


def _reason(exc: EngineError, ino: int) -> str:
    """The engine's message without its inode number, which means nothing to a user."""
    return str(exc).replace(f"inode {ino} ", "it ").replace(f"inode {ino}", "it")


def _drive_path(args: dict[str, Any]) -> str:
    path = args.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _Refused("path must be the drive path of an item, starting with /")
    return path


_HANDLERS: dict[str, Callable[[Engine, dict[str, Any]], Awaitable[Answer]]] = {
    "report": report,
    "subtree": subtree,
    "resolve": resolve,
}
