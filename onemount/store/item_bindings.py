"""The item machine's guards and effects, bound to metadata_v2 rows (``bindings`` in item.meta).

A guard reads the row in hand, the event's typed payload (:mod:`.events`) and, for a few, one
query; an effect edits the row dict and records the outbox operations to run once the row is
written. Effects never write ``state``: :class:`~onemount.store.manager.StateManager` sets it
from the spec's target. Each effect does exactly what its ``meaning`` in spec/item.meta.yaml
says; the conformance test in tests/store checks its declared ``sets`` against the row read back.

A guard that needs a fact only some events carry (``has_writers``, ``has_open_handles``,
``changed_during_upload``...) reads it from the payload by attribute: an event type that lacks
it cannot be fired where the spec asks for it (``AttributeError``), rather than reading as
``False``, which is the value that would let bytes go.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import apsw

from onemount import mutations
from onemount.store.events import (
    LocalCreated,
    LocalModified,
    LocalOverwritten,
    LocalTimesChanged,
    MoveSucceeded,
    NameCollided,
    Payload,
    RemoteState,
    UploadSucceeded,
)
from onemount.store.names import local_name, name_key, remote_name

Row = dict[str, Any]

# cached_hash of bytes that exist locally but have not been hashed yet (a write in progress).
UNHASHED = "-"
# The longest name: 255 bytes of UTF-8 (Linux) and 255 UTF-16 units (OneDrive).
MAX_NAME_BYTES = 255


def new_local_id() -> str:
    """An id for an item the server has not seen; replaced by the server's id on upload."""
    return f"local:{uuid.uuid4().hex}"


@dataclass
class GuardContext:
    """What a guard may read: the connection, the row (``None`` before creation), the payload.

    ``remote_parent_ino`` is the inode of the parent a payload's :class:`RemoteState` names
    (resolved by the manager before the guards run).
    """

    conn: apsw.Connection
    row: Row | None
    payload: Payload
    remote_parent_ino: int | None = None

    @cached_property
    def intents(self) -> dict[str, tuple[str, str | None]]:
        """The row's pending intents: kind -> (job state, snapshot hash)."""
        if self.row is None or self.row["ino"] is None:  # a row being created has none
            return {}
        return {
            kind: (job_state, snapshot)
            for kind, job_state, snapshot in self.conn.execute(
                "SELECT kind, job_state, snapshot_hash FROM intents WHERE ino = ?",
                (self.row["ino"],),
            )
        }


@dataclass
class EffectContext:
    """What an effect may change: the row dict, and the outbox operations queued after it."""

    row: Row
    payload: Payload
    guards: GuardContext
    now: float
    worker: str | None
    intents: list[tuple[str, str]] = field(default_factory=list)  # ("add"|"drop", kind)
    purge: bool = False
    moved: bool = False  # the parent changed: the manager checks the tree before commit
    spawn: list[LocalCreated] = field(default_factory=list)  # conflict copies to create
    #: Whether a live sibling under ``parent`` already has ``name_key`` (for conflict names).
    name_taken: Callable[[int, str], bool] | None = None


# ---- guards ----------------------------------------------------------------------------------


def is_directory(ctx: GuardContext) -> bool:
    if ctx.row is not None:
        return bool(ctx.row["kind"] == "folder")
    payload = ctx.payload
    if isinstance(payload, LocalCreated):
        return payload.kind == "folder"
    remote = getattr(payload, "remote", None)
    return isinstance(remote, RemoteState) and remote.kind == "folder"


def is_virtual(ctx: GuardContext) -> bool:
    return ctx.row is not None and bool(ctx.row["virtual"])


def pinned(ctx: GuardContext) -> bool:
    return ctx.row is not None and bool(ctx.row["pinned"])


def has_local_changes(ctx: GuardContext) -> bool:
    return ctx.row is not None and bool(ctx.row["has_local_changes"])


def has_open_handles(ctx: GuardContext) -> bool:
    # Open handles live in the FUSE layer's memory: the event says (Evict.open_handles).
    return bool(ctx.payload.open_handles)  # type: ignore[attr-defined]


def has_writers(ctx: GuardContext) -> bool:
    return bool(ctx.payload.writers)  # type: ignore[attr-defined]


def content_changed(ctx: GuardContext) -> bool:
    """cTag, else quickXorHash, compared with the row's; unknown on both counts is a change.

    An eTag is never compared: it changes on a rename too (onemount-reference.md §9 L6).
    A file whose server version cannot be compared at all is treated as changed, the answer
    that re-fetches instead of keeping possibly stale bytes.
    """
    row = ctx.row
    if row is None or row["kind"] == "folder":
        return False
    remote: RemoteState = ctx.payload.remote  # type: ignore[attr-defined]
    if mutations.on("etag_invalidation"):
        return bool(remote.etag != row["etag"])
    comparable = False
    if remote.ctag is not None and row["ctag"] is not None:
        if remote.ctag != row["ctag"]:
            return True
        comparable = True
    if remote.hash is not None and row["remote_hash"] is not None:
        if remote.hash != row["remote_hash"]:
            return True
        comparable = True
    return not comparable


def exists_remotely(ctx: GuardContext) -> bool:
    return ctx.row is not None and ctx.row["remote_id"] is not None


def changed_during_upload(ctx: GuardContext) -> bool:
    # The uploader reports the local_change_seq of the snapshot it sent.
    assert ctx.row is not None
    sent: int = ctx.payload.snapshot_seq  # type: ignore[attr-defined]
    if mutations.on("upload_keeps_dirty"):
        return True
    return bool(sent != ctx.row["local_change_seq"])


# The walk carries has_local_changes and stops at the first hit: it reads the subtree through
# items_parent, never a scan of the whole table.
# Below the folder: an item with unsent changes, or one the server has outside the folder (moved
# in here, its move not sent yet): the server's delete of the folder took neither.
_UNSENT_DESCENDANT = """
WITH RECURSIVE sub(ino) AS (
    SELECT ino FROM items WHERE parent_ino = ?1
    UNION ALL SELECT items.ino FROM items JOIN sub ON items.parent_ino = sub.ino
)
SELECT 1 FROM sub CROSS JOIN items ON items.ino = sub.ino  -- (sub outermost: no table scan)
WHERE items.has_local_changes
    OR (items.remote_parent_ino IS NOT NULL AND items.remote_parent_ino <> ?1
        AND items.remote_parent_ino NOT IN (SELECT ino FROM sub))
LIMIT 1
"""


def has_unsent_descendants(ctx: GuardContext) -> bool:
    if ctx.row is None or ctx.row["kind"] != "folder":
        return False
    return ctx.conn.execute(_UNSENT_DESCENDANT, (ctx.row["ino"],)).fetchone() is not None


def has_kept_remote_version(ctx: GuardContext) -> bool:
    return ctx.row is not None and ctx.row["conflict_remote_etag"] is not None


def _upload_snapshot(ctx: GuardContext) -> str | None:
    job = ctx.intents.get("upload")
    return job[1] if job else None


def is_upload_echo(ctx: GuardContext) -> bool:
    """The change carries the hash of the bytes our upload job snapshotted and sent."""
    remote: RemoteState = ctx.payload.remote  # type: ignore[attr-defined]
    if mutations.on("echo_is_conflict"):
        return False
    return remote.hash is not None and remote.hash == _upload_snapshot(ctx)


def hydration_current(ctx: GuardContext) -> bool:
    """The verified bytes are the version the row records (a row without a hash cannot tell)."""
    assert ctx.row is not None
    verified: str = ctx.payload.cached_hash  # type: ignore[attr-defined]
    if mutations.on("stale_hydration_accepted"):
        return True
    return ctx.row["remote_hash"] is None or verified == ctx.row["remote_hash"]


def matches_arrival(ctx: GuardContext) -> bool:
    """The arriving item is our own create: not on the server yet, same kind and content.

    The manager only fires name_collided on the row that holds the arrival's parent and name
    key, so placement is already equal here. A file matches when the arrival's hash is the
    hash of the snapshot our upload sent or of the bytes we hold.
    """
    row, payload = ctx.row, ctx.payload
    assert row is not None and isinstance(payload, NameCollided)
    arrival = payload.arrival
    if row["remote_id"] is not None or arrival.kind != row["kind"]:
        return False
    if arrival.kind == "folder":
        return True
    hashes = {_upload_snapshot(ctx), row["cached_hash"]} - {None, UNHASHED}
    return arrival.hash is not None and arrival.hash in hashes


def remote_matches_local(ctx: GuardContext) -> bool:
    """The server's content is the bytes we hold (their hash is known and equal)."""
    row = ctx.row
    if row is None or row["kind"] == "folder" or row["cached_hash"] in (None, UNHASHED):
        return False
    remote: RemoteState = ctx.payload.remote  # type: ignore[attr-defined]
    return remote.hash is not None and remote.hash == row["cached_hash"]


def attributes_changed_since_sent(ctx: GuardContext) -> bool:
    """The create or move the server confirmed carried another name, parent or mtime.

    Only a create (an upload or mkdir of an item without a remote id) carries a placement; an
    upload by id does not, so its reply's name says nothing about what we sent (and a utime
    of an item the server has queued a move of its own). The mtime is compared with the one
    the job sent, never with the server's stamp of it, which may keep only whole seconds.
    """
    row, payload = ctx.row, ctx.payload
    assert row is not None
    if isinstance(payload, UploadSucceeded) and row["remote_id"] is not None:
        return False
    assert isinstance(payload, UploadSucceeded | MoveSucceeded)
    if payload.sent_mtime is not None and payload.sent_mtime != row["mtime"]:
        return True
    return bool(payload.remote.name != row["name"] or ctx.remote_parent_ino != row["parent_ino"])


GUARDS: Mapping[str, Callable[[GuardContext], bool]] = {
    "is_directory": is_directory,
    "is_virtual": is_virtual,
    "pinned": pinned,
    "has_local_changes": has_local_changes,
    "has_open_handles": has_open_handles,
    "has_writers": has_writers,
    "content_changed": content_changed,
    "exists_remotely": exists_remotely,
    "changed_during_upload": changed_during_upload,
    "has_unsent_descendants": has_unsent_descendants,
    "has_kept_remote_version": has_kept_remote_version,
    "is_upload_echo": is_upload_echo,
    "hydration_current": hydration_current,
    "matches_arrival": matches_arrival,
    "remote_matches_local": remote_matches_local,
    "attributes_changed_since_sent": attributes_changed_since_sent,
}


# ---- effects ---------------------------------------------------------------------------------


def _remote(ctx: EffectContext) -> RemoteState:
    remote = getattr(ctx.payload, "remote", None) or getattr(ctx.payload, "arrival", None)
    if not isinstance(remote, RemoteState):
        raise TypeError(f"{type(ctx.payload).__name__} carries no server item")
    return remote


def _set_placement(ctx: EffectContext, name: str, parent_ino: int | None) -> None:
    row = ctx.row
    if name != row["name"]:
        row["name"] = name
        row["name_key"] = name_key(name)
    if parent_ino != row["parent_ino"]:
        row["parent_ino"] = parent_ino
        ctx.moved = True


def _record_server_placement_of(ctx: EffectContext, remote: RemoteState) -> None:
    """What the server holds: the placement the next move compares with."""
    row = ctx.row
    if remote.name == row["remote_name"]:
        pass  # validated and keyed when it was stored
    elif remote.name == row["name"]:
        row["remote_name"], row["remote_name_key"] = row["name"], row["name_key"]
    else:
        row["remote_name"] = remote_name(remote.name)
        row["remote_name_key"] = name_key(remote.name)
    row["remote_parent_ino"] = ctx.guards.remote_parent_ino


def _placement_is_local(ctx: EffectContext) -> bool:
    """The row holds a placement the server does not have yet (a move is pending)."""
    return "move" in ctx.guards.intents


def _take_server_metadata(ctx: EffectContext, remote: RemoteState, *, placement: bool) -> None:
    row = ctx.row
    new_content = content_changed(ctx.guards)  # read before the row takes the new tags
    row["etag"], row["ctag"], row["remote_hash"] = remote.etag, remote.ctag, remote.hash
    if not row["has_local_changes"]:
        # size and mtime are what getattr shows; while local changes are pending they describe
        # the local bytes, and a delta snapshot must not clobber them (reference §9 L1).
        row["size"] = remote.size
        if remote.mtime is not None and (new_content or not _placement_is_local(ctx)):
            # A utime's move carries the user's mtime: until the server has it, the row's
            # stays (new content brings its own time, which wins).
            row["mtime"] = _server_mtime(remote.mtime, row["mtime"])
    _record_server_placement_of(ctx, remote)
    if placement and not _placement_is_local(ctx):
        _set_placement(ctx, row["remote_name"], ctx.guards.remote_parent_ino)


def holds_mtime(server: float, ours: float) -> bool:
    """The server's mtime is ours, as precisely as it keeps times.

    Graph's times carry microseconds at most, and OneDrive may keep whole seconds only: the
    echo of ``touch -d 12:00:00.5`` can come back as ``12:00:00``. Anything else is another
    time, even a fraction of a second away (``rsync`` compares whole seconds: 06.97 and 07.07
    differ for it).
    """
    return abs(server - ours) < 1e-6 or (server == int(server) and server == math.floor(ours))


def _server_mtime(server: float, ours: float | None) -> float:
    """The server's mtime, or ours when the server holds it (taking the server's digits
    would change the file's time under ``rsync`` and ``make`` for nothing)."""
    return ours if ours is not None and holds_mtime(server, ours) else server


def mark_remote(ctx: EffectContext) -> None:
    row, remote = ctx.row, _remote(ctx)
    row["remote_id"] = row["item_id"] = remote.id
    row["kind"] = remote.kind
    row["cached_hash"] = None
    row["has_local_changes"] = 0
    row["pending_remote"] = 0
    _take_server_metadata(ctx, remote, placement=True)


def mark_virtual(ctx: EffectContext) -> None:
    ctx.row["virtual"] = 1
    ctx.row["cached_hash"] = UNHASHED


def record_local_change(ctx: EffectContext) -> None:
    row, payload = ctx.row, ctx.payload
    row["has_local_changes"] = 1
    row["local_change_seq"] += 1
    if isinstance(payload, LocalCreated | LocalModified | LocalOverwritten):
        row["size"], row["mtime"] = payload.size, payload.mtime
        if row["kind"] == "file":
            row["cached_hash"] = getattr(payload, "cached_hash", None) or UNHASHED
    elif row["kind"] == "file" and row["cached_hash"] is None:
        row["cached_hash"] = UNHASHED
    if isinstance(payload, LocalCreated):
        row["mode"] = payload.mode
    if row["kind"] == "folder":
        row["cached_hash"] = UNHASHED


def queue_upload(ctx: EffectContext) -> None:
    ctx.intents.append(("add", "upload"))


def queue_mkdir(ctx: EffectContext) -> None:
    ctx.intents.append(("add", "mkdir"))


def queue_move(ctx: EffectContext) -> None:
    ctx.intents.append(("add", "move"))


def queue_delete(ctx: EffectContext) -> None:
    ctx.intents.append(("add", "delete"))


def cancel_all_intents(ctx: EffectContext) -> None:
    ctx.intents.append(("drop", "*"))


def cancel_upload(ctx: EffectContext) -> None:
    ctx.intents.append(("drop", "upload"))
    ctx.intents.append(("drop", "mkdir"))


def cancel_delete(ctx: EffectContext) -> None:
    ctx.intents.append(("drop", "delete"))


def take_local_placement(ctx: EffectContext) -> None:
    payload = ctx.payload
    assert hasattr(payload, "name") and hasattr(payload, "parent")
    _set_placement(ctx, local_name(payload.name), payload.parent)


def take_local_times(ctx: EffectContext) -> None:
    payload = ctx.payload
    assert isinstance(payload, LocalTimesChanged)
    ctx.row["mtime"] = payload.mtime


def conflict_copy_name(name: str, now: float, taken: Callable[[str], bool] | None = None) -> str:
    """``<stem> (conflict copy YYYY-MM-DD HHMMSS)<ext>`` in UTC, not ``taken`` (by key).

    No ``:`` (OneDrive refuses it) and the original extension, so the copy opens with the same
    application. A second conflict in the same second gets `` 2``, `` 3``... after the stamp.
    """
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dot file such as ".bashrc"
        stem, dot, ext = name, "", ""
    stamp = time.strftime("%Y-%m-%d %H%M%S", time.gmtime(now))
    for n in range(1, 10_000):
        tail = f" (conflict copy {stamp}{'' if n == 1 else f' {n}'}){dot}{ext}"
        candidate = _shortened(stem, tail) + tail
        if taken is None or not taken(name_key(candidate)):
            return candidate
    raise RuntimeError(f"no free conflict name for {name!r}")


def _shortened(stem: str, tail: str) -> str:
    """``stem`` cut so that ``stem + tail`` is a name both Linux and OneDrive take.

    Linux allows 255 bytes of UTF-8 in a name, OneDrive 255 UTF-16 code units; a long name
    moved aside must still be one name, so the stem gives way (never the stamp or extension).
    """
    while stem and (
        len((stem + tail).encode()) > MAX_NAME_BYTES
        or len((stem + tail).encode("utf-16-le")) // 2 > MAX_NAME_BYTES
    ):
        stem = stem[:-1]
    return stem.rstrip() or "_"


def _taken_under(ctx: EffectContext, parent_ino: int) -> Callable[[str], bool] | None:
    check = ctx.name_taken
    return None if check is None else (lambda key: check(parent_ino, key))


def move_aside(ctx: EffectContext) -> None:
    row = ctx.row
    aside = conflict_copy_name(row["name"], ctx.now, _taken_under(ctx, row["parent_ino"]))
    _set_placement(ctx, aside, row["parent_ino"])


def record_server_placement(ctx: EffectContext) -> None:
    remote = _remote(ctx)
    ctx.row["etag"] = remote.etag
    _record_server_placement_of(ctx, remote)


def complete_move(ctx: EffectContext) -> None:
    ctx.intents.append(("drop", "move"))


def adopt_remote_identity(ctx: EffectContext) -> None:
    row, arrival = ctx.row, _remote(ctx)
    row["remote_id"] = row["item_id"] = arrival.id
    row["etag"], row["ctag"], row["remote_hash"] = arrival.etag, arrival.ctag, arrival.hash
    row["pending_remote"] = 0
    _record_server_placement_of(ctx, arrival)


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
    ctx.row["cached_hash"] = ctx.payload.cached_hash  # type: ignore[attr-defined]


def abandon_hydration(ctx: EffectContext) -> None:
    ctx.row["hydration_started"] = None
    ctx.row["hydration_finished"] = None
    ctx.row["hydration_worker"] = None


def drop_cached_content(ctx: EffectContext) -> None:
    if ctx.row["kind"] == "file":
        ctx.row["cached_hash"] = None


def refresh_remote_metadata(ctx: EffectContext) -> None:
    """The server's metadata; the row's own name and parent while a local move is pending."""
    _take_server_metadata(ctx, _remote(ctx), placement=True)


def adopt_uploaded_version(ctx: EffectContext) -> None:
    row, remote = ctx.row, _remote(ctx)
    row["remote_id"] = row["item_id"] = remote.id
    row["etag"], row["ctag"], row["remote_hash"] = remote.etag, remote.ctag, remote.hash
    row["pending_remote"] = 0
    _record_server_placement_of(ctx, remote)
    ctx.intents.append(("drop", "upload"))
    ctx.intents.append(("drop", "mkdir"))


def clear_local_changes(ctx: EffectContext) -> None:
    """The server has exactly our bytes: their hash is the one it answered with."""
    row = ctx.row
    row["has_local_changes"] = 0
    row["cached_hash"] = row["remote_hash"] or UNHASHED if row["kind"] == "file" else None


def record_error(ctx: EffectContext) -> None:
    row, failure = ctx.row, ctx.payload.failure  # type: ignore[attr-defined]
    row["last_error"] = failure.error
    row["error_kind"] = failure.error_kind
    row["error_temporary"] = int(failure.temporary)
    abandon_hydration(ctx)


def _forget_error(row: Row) -> None:
    row["last_error"] = row["error_kind"] = row["error_temporary"] = None


def clear_error(ctx: EffectContext) -> None:
    _forget_error(ctx.row)


_CONFLICT_FIELDS = (
    "conflict_remote_etag",
    "conflict_remote_ctag",
    "conflict_remote_hash",
    "conflict_remote_size",
    "conflict_remote_mtime",
)


def keep_remote_version(ctx: EffectContext) -> None:
    """Record the server's version beside ours; its placement is taken as refresh would."""
    row, remote = ctx.row, getattr(ctx.payload, "remote", None)
    if remote is None:  # a 409/412 whose current item the engine could not fetch
        row["conflict_remote_etag"] = "unknown"
        return
    assert isinstance(remote, RemoteState)
    row["conflict_remote_etag"] = remote.etag or "unknown"
    row["conflict_remote_ctag"] = remote.ctag
    row["conflict_remote_hash"] = remote.hash
    row["conflict_remote_size"] = remote.size
    row["conflict_remote_mtime"] = remote.mtime
    _record_server_placement_of(ctx, remote)
    if not _placement_is_local(ctx):
        _set_placement(ctx, row["remote_name"], ctx.guards.remote_parent_ino)


def _forget_kept_version(row: Row) -> None:
    for column in _CONFLICT_FIELDS:
        row[column] = None


def drop_kept_version(ctx: EffectContext) -> None:
    _forget_kept_version(ctx.row)


def forget_remote_identity(ctx: EffectContext) -> None:
    row = ctx.row
    row["remote_id"] = row["etag"] = row["ctag"] = row["remote_hash"] = None
    row["remote_name"] = row["remote_name_key"] = row["remote_parent_ino"] = None
    row["item_id"] = new_local_id()  # the server's id may come back as a different item
    row["pending_remote"] = 1
    _forget_kept_version(row)
    ctx.intents.append(("drop", "move"))


def adopt_remote_version_as_base(ctx: EffectContext) -> None:
    row = ctx.row
    if row["conflict_remote_etag"] not in (None, "unknown"):
        row["etag"] = row["conflict_remote_etag"]
    _forget_kept_version(row)


def adopt_remote_version(ctx: EffectContext) -> None:
    row = ctx.row
    if row["conflict_remote_etag"] not in (None, "unknown"):
        row["etag"] = row["conflict_remote_etag"]
        row["ctag"] = row["conflict_remote_ctag"]
        row["remote_hash"] = row["conflict_remote_hash"]
        if row["conflict_remote_size"] is not None:
            row["size"] = row["conflict_remote_size"]
        if row["conflict_remote_mtime"] is not None:
            row["mtime"] = row["conflict_remote_mtime"]
    _forget_kept_version(row)


def discard_local_changes(ctx: EffectContext) -> None:
    ctx.row["has_local_changes"] = 0
    ctx.row["cached_hash"] = None


def fork_conflict_copy(ctx: EffectContext) -> None:
    row = ctx.row
    name = conflict_copy_name(row["name"], ctx.now, _taken_under(ctx, row["parent_ino"]))
    ctx.spawn.append(
        LocalCreated(
            parent=row["parent_ino"],
            name=name,
            kind="file",
            size=row["size"],
            mtime=row["mtime"],
            mode=row["mode"],
        )
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
    "cancel_upload": cancel_upload,
    "cancel_delete": cancel_delete,
    "take_local_placement": take_local_placement,
    "take_local_times": take_local_times,
    "move_aside": move_aside,
    "record_server_placement": record_server_placement,
    "complete_move": complete_move,
    "adopt_remote_identity": adopt_remote_identity,
    "start_hydration": start_hydration,
    "restart_hydration": restart_hydration,
    "finish_hydration": finish_hydration,
    "abandon_hydration": abandon_hydration,
    "drop_cached_content": drop_cached_content,
    "drop_kept_version": drop_kept_version,
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
