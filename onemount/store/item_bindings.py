"""The item machine's guards and effects, bound to metadata_v2 rows (``bindings`` in item.meta).

A guard reads the row in hand (and, for a few, the fire context or one query); an effect edits
the row dict and records the outbox operations to run once the row is written. Effects never
write ``state``: :class:`~onemount.store.manager.StateManager` sets it from the spec's target.
Each effect does exactly what its ``meaning`` in spec/item.meta.yaml says; the conformance test
in tests/store checks its declared ``sets`` against the row read back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import apsw

from onemount.store.names import name_key, validated

Row = dict[str, Any]

# cached_hash of bytes that exist locally but have not been hashed yet (a write in progress).
UNHASHED = "-"


def new_local_id() -> str:
    """An id for an item the server has not seen; replaced by the server's id on upload."""
    return f"local:{uuid.uuid4().hex}"


@dataclass
class GuardContext:
    """What a guard may read: the connection, the row (``None`` before creation), the context."""

    conn: apsw.Connection
    row: Row | None
    context: Mapping[str, Any]


@dataclass
class EffectContext:
    """What an effect may change: the row dict, and the outbox operations queued after it."""

    row: Row
    context: Mapping[str, Any]
    now: float
    worker: str | None
    intents: list[tuple[str, str]] = field(default_factory=list)  # ("add"|"drop", kind)
    purge: bool = False
    moved: bool = False  # the parent changed: the manager checks the tree before commit
    spawn: list[dict[str, Any]] = field(default_factory=list)  # contexts of local_created items


# ---- guards ----------------------------------------------------------------------------------


def _field(ctx: GuardContext, column: str) -> Any:
    return ctx.row[column] if ctx.row is not None else None


def is_directory(ctx: GuardContext) -> bool:
    kind = ctx.row["kind"] if ctx.row is not None else ctx.context.get("kind", "file")
    return bool(kind == "folder")


def is_virtual(ctx: GuardContext) -> bool:
    return bool(_field(ctx, "virtual"))


def pinned(ctx: GuardContext) -> bool:
    return bool(_field(ctx, "pinned"))


def has_local_changes(ctx: GuardContext) -> bool:
    return bool(_field(ctx, "has_local_changes"))


def has_open_handles(ctx: GuardContext) -> bool:
    # Open handles live in the FUSE layer's memory, not in the store: it says so in the context.
    return bool(ctx.context.get("open_handles", False))


def content_changed(ctx: GuardContext) -> bool:
    if ctx.row is None or ctx.row["kind"] == "folder":
        return False
    ctag, digest = ctx.context.get("ctag"), ctx.context.get("hash")
    return (ctag is not None and ctag != ctx.row["ctag"]) or (
        digest is not None and digest != ctx.row["remote_hash"]
    )


def exists_remotely(ctx: GuardContext) -> bool:
    return _field(ctx, "remote_id") is not None


def changed_during_upload(ctx: GuardContext) -> bool:
    # The uploader passes the local_change_seq it read when it took its snapshot of the bytes.
    if ctx.row is None:
        return False
    return bool(
        ctx.context.get("snapshot_seq", ctx.row["local_change_seq"]) != ctx.row["local_change_seq"]
    )


# The walk carries has_local_changes and stops at the first hit: it reads the subtree through
# items_parent, never a scan of the whole table.
_UNSENT_DESCENDANT = """
WITH RECURSIVE sub(ino, unsent) AS (
    SELECT ino, has_local_changes FROM items WHERE parent_ino = ?
    UNION ALL SELECT items.ino, items.has_local_changes
    FROM items JOIN sub ON items.parent_ino = sub.ino
)
SELECT 1 FROM sub WHERE unsent LIMIT 1
"""


def has_unsent_descendants(ctx: GuardContext) -> bool:
    if ctx.row is None or ctx.row["kind"] != "folder":
        return False
    return ctx.conn.execute(_UNSENT_DESCENDANT, (ctx.row["ino"],)).fetchone() is not None


GUARDS: Mapping[str, Callable[[GuardContext], bool]] = {
    "is_directory": is_directory,
    "is_virtual": is_virtual,
    "pinned": pinned,
    "has_local_changes": has_local_changes,
    "has_open_handles": has_open_handles,
    "content_changed": content_changed,
    "exists_remotely": exists_remotely,
    "changed_during_upload": changed_during_upload,
    "has_unsent_descendants": has_unsent_descendants,
}


# ---- effects ---------------------------------------------------------------------------------

# Context keys a server item carries, and the columns they fill.
_REMOTE_FIELDS = {
    "etag": "etag",
    "ctag": "ctag",
    "hash": "remote_hash",
    "size": "size",
    "mtime": "mtime",
}


def _take_placement(ctx: EffectContext) -> None:
    """Name and parent from the context, when it carries them (a rename or move).

    An unchanged name is left alone: it was validated and keyed when it was stored, and every
    delta item carries its name.
    """
    if "name" in ctx.context and ctx.context["name"] != ctx.row["name"]:
        ctx.row["name"] = validated(ctx.context["name"])
        ctx.row["name_key"] = name_key(ctx.row["name"])
    if "parent_ino" in ctx.context and ctx.context["parent_ino"] != ctx.row["parent_ino"]:
        ctx.row["parent_ino"] = ctx.context["parent_ino"]
        ctx.moved = True


def mark_remote(ctx: EffectContext) -> None:
    row = ctx.row
    row["remote_id"] = row["item_id"]
    _take_placement(ctx)
    for key, column in _REMOTE_FIELDS.items():
        if key in ctx.context:
            row[column] = ctx.context[key]
    row["cached_hash"] = None
    row["has_local_changes"] = 0


def mark_virtual(ctx: EffectContext) -> None:
    ctx.row["virtual"] = 1
    ctx.row["cached_hash"] = UNHASHED


def record_local_change(ctx: EffectContext) -> None:
    row = ctx.row
    row["has_local_changes"] = 1
    row["local_change_seq"] += 1
    row["cached_hash"] = ctx.context.get("cached_hash", UNHASHED)
    for key in ("size", "mtime", "mode"):
        if key in ctx.context:
            row[key] = ctx.context[key]


def queue_upload(ctx: EffectContext) -> None:
    ctx.intents.append(("add", "upload"))


def queue_mkdir(ctx: EffectContext) -> None:
    ctx.intents.append(("add", "mkdir"))


def queue_move(ctx: EffectContext) -> None:
    _take_placement(ctx)
    ctx.intents.append(("add", "move"))


def queue_delete(ctx: EffectContext) -> None:
    ctx.intents.append(("add", "delete"))


def cancel_all_intents(ctx: EffectContext) -> None:
    ctx.intents.append(("drop", "*"))


def start_hydration(ctx: EffectContext) -> None:
    ctx.row["hydration_started"] = ctx.now
    ctx.row["hydration_finished"] = None
    ctx.row["hydration_worker"] = ctx.worker
    _forget_error(ctx.row)


def restart_hydration(ctx: EffectContext) -> None:
    ctx.row["hydration_started"] = ctx.now
    ctx.row["hydration_finished"] = None


def finish_hydration(ctx: EffectContext) -> None:
    ctx.row["hydration_finished"] = ctx.now
    ctx.row["cached_hash"] = ctx.context.get("cached_hash") or ctx.row["remote_hash"] or UNHASHED


def abandon_hydration(ctx: EffectContext) -> None:
    ctx.row["hydration_started"] = None
    ctx.row["hydration_finished"] = None
    ctx.row["hydration_worker"] = None


def drop_cached_content(ctx: EffectContext) -> None:
    ctx.row["cached_hash"] = None


def refresh_remote_metadata(ctx: EffectContext) -> None:
    """The server's metadata, except that unsent local bytes keep their own size and mtime.

    size and mtime are what getattr shows; while local changes are pending they describe the
    local bytes, and letting a delta snapshot overwrite them is the clobbering the reference
    implementation suffered (onemount-reference.md §9 L1).
    """
    _take_placement(ctx)
    local = bool(ctx.row["has_local_changes"])
    for key, column in _REMOTE_FIELDS.items():
        if key in ctx.context and not (local and key in ("size", "mtime")):
            ctx.row[column] = ctx.context[key]


def adopt_uploaded_version(ctx: EffectContext) -> None:
    row = ctx.row
    remote_id = ctx.context.get("remote_id") or row["remote_id"]
    if remote_id is None:
        raise ValueError("upload_succeeded needs the server's remote_id")
    row["remote_id"] = row["item_id"] = remote_id
    for key in ("etag", "ctag", "hash"):
        if key in ctx.context:
            row[_REMOTE_FIELDS[key]] = ctx.context[key]
    row["pending_remote"] = 0
    ctx.intents.append(("drop", "upload"))
    ctx.intents.append(("drop", "mkdir"))


def clear_local_changes(ctx: EffectContext) -> None:
    ctx.row["has_local_changes"] = 0


def record_error(ctx: EffectContext) -> None:
    row = ctx.row
    row["last_error"] = str(ctx.context.get("error", "unknown error"))
    row["error_kind"] = ctx.context.get("error_kind")
    row["error_temporary"] = int(bool(ctx.context.get("temporary", False)))
    abandon_hydration(ctx)


def _forget_error(row: Row) -> None:
    row["last_error"] = row["error_kind"] = row["error_temporary"] = None


def clear_error(ctx: EffectContext) -> None:
    _forget_error(ctx.row)


_CONFLICT_FIELDS = {
    "etag": "conflict_remote_etag",
    "ctag": "conflict_remote_ctag",
    "hash": "conflict_remote_hash",
    "size": "conflict_remote_size",
    "mtime": "conflict_remote_mtime",
}


def keep_remote_version(ctx: EffectContext) -> None:
    for key, column in _CONFLICT_FIELDS.items():
        ctx.row[column] = ctx.context.get(key)
    # The eTag marks the kept version as present; an event without one still keeps a version.
    ctx.row["conflict_remote_etag"] = ctx.context.get("etag") or ctx.row["etag"] or "unknown"


def _forget_kept_version(row: Row) -> None:
    for column in _CONFLICT_FIELDS.values():
        row[column] = None


def forget_remote_identity(ctx: EffectContext) -> None:
    row = ctx.row
    row["remote_id"] = row["etag"] = row["ctag"] = row["remote_hash"] = None
    row["item_id"] = new_local_id()  # the server's id may come back as a different item
    row["pending_remote"] = 1
    _forget_kept_version(row)
    ctx.intents.append(("drop", "move"))


def adopt_remote_version_as_base(ctx: EffectContext) -> None:
    if ctx.row["conflict_remote_etag"] is not None:
        ctx.row["etag"] = ctx.row["conflict_remote_etag"]
    _forget_kept_version(ctx.row)


def adopt_remote_version(ctx: EffectContext) -> None:
    row = ctx.row
    if row["conflict_remote_etag"] is not None:
        for key, column in _CONFLICT_FIELDS.items():
            if row[column] is not None:
                row[_REMOTE_FIELDS[key]] = row[column]
    _forget_kept_version(row)


def discard_local_changes(ctx: EffectContext) -> None:
    ctx.row["has_local_changes"] = 0
    ctx.row["cached_hash"] = None


def conflict_copy_name(name: str, now: float) -> str:
    """``<stem> (conflict copy YYYY-MM-DD HHMMSS)<ext>``, in UTC."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dot file such as ".bashrc"
        stem, dot, ext = name, "", ""
    stamp = time.strftime("%Y-%m-%d %H%M%S", time.gmtime(now))
    return f"{stem} (conflict copy {stamp}){dot}{ext}"


def fork_conflict_copy(ctx: EffectContext) -> None:
    row = ctx.row
    ctx.spawn.append(
        {
            "name": conflict_copy_name(row["name"], ctx.now),
            "parent_ino": row["parent_ino"],
            "kind": "file",
            "size": row["size"],
            "mtime": row["mtime"],
            "mode": row["mode"],
            "cached_hash": row["cached_hash"],
        }
    )
    row["has_local_changes"] = 0
    row["cached_hash"] = None


def purge(ctx: EffectContext) -> None:
    abandon_hydration(ctx)
    ctx.row["cached_hash"] = None
    ctx.intents.append(("drop", "*"))
    ctx.purge = True


EFFECTS: Mapping[str, Callable[[EffectContext], None]] = {
    "mark_remote": mark_remote,
    "mark_virtual": mark_virtual,
    "record_local_change": record_local_change,
    "queue_upload": queue_upload,
    "queue_mkdir": queue_mkdir,
    "queue_move": queue_move,
    "queue_delete": queue_delete,
    "cancel_all_intents": cancel_all_intents,
    "start_hydration": start_hydration,
    "restart_hydration": restart_hydration,
    "finish_hydration": finish_hydration,
    "abandon_hydration": abandon_hydration,
    "drop_cached_content": drop_cached_content,
    "refresh_remote_metadata": refresh_remote_metadata,
    "adopt_uploaded_version": adopt_uploaded_version,
    "clear_local_changes": clear_local_changes,
    "record_error": record_error,
    "clear_error": clear_error,
    "keep_remote_version": keep_remote_version,
    "forget_remote_identity": forget_remote_identity,
    "adopt_remote_version_as_base": adopt_remote_version_as_base,
    "adopt_remote_version": adopt_remote_version,
    "discard_local_changes": discard_local_changes,
    "fork_conflict_copy": fork_conflict_copy,
    "purge": purge,
}
