"""One frozen payload type per event of spec/item.yaml: what each event must say, and nothing else.

The guards that protect the user's bytes read these fields: whether a file is open for writing
(``has_writers``), open at all (``has_open_handles``), the server's tags and hash
(``content_changed``, ``is_upload_echo``), the sequence number of the bytes an upload sent
(``changed_during_upload``) and the hash a download verified (``hydration_current``). A
keyword-argument context let a misspelt or forgotten key read as ``False``, the value that
allows the loss; here every such field is required, so forgetting one is a ``TypeError`` where
the event is built, and an unknown field is one too.

Every payload names its event in ``EVENT``; :data:`PAYLOADS` maps each event of the spec to its
type, and a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Literal

Kind = Literal["file", "folder"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteState:
    """An item as the server describes it (a delta entry, a listing entry, a reply).

    ``parent_id`` is the server's id of the parent folder, ``None`` only for the drive's root.
    Tags and hash are ``None`` where the service omits them (Business has no cTag; a folder has
    no hash). ``mtime`` is the file system time the writing client gave (``fileSystemInfo``).
    """

    id: str
    name: str
    parent_id: str | None
    kind: Kind
    etag: str | None
    ctag: str | None
    hash: str | None
    size: int
    mtime: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteDeletion:
    """A delta entry with the ``deleted`` facet: often only the id (Business drops the name)."""

    id: str


class Payload:
    """Base of every event payload; ``EVENT`` is the spec's name of the event."""

    __slots__ = ()
    EVENT: ClassVar[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteAppeared(Payload):
    """Delta or a listing shows an item we have no row for. The root has ``parent_id None``."""

    EVENT: ClassVar[str] = "remote_appeared"
    remote: RemoteState


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalCreated(Payload):
    EVENT: ClassVar[str] = "local_created"
    parent: int
    name: str
    kind: Kind
    size: int
    mtime: float
    mode: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtualCreated(Payload):
    EVENT: ClassVar[str] = "virtual_created"
    parent: int
    name: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HydrateRequested(Payload):
    EVENT: ClassVar[str] = "hydrate_requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class HydrateSucceeded(Payload):
    """``cached_hash`` is the quickXorHash the hydrator computed over the bytes it wrote."""

    EVENT: ClassVar[str] = "hydrate_succeeded"
    cached_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why something failed: shown to the user (``user.onemount.error``, ``status``)."""

    error: str
    error_kind: str
    temporary: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HydrateFailed(Payload):
    EVENT: ClassVar[str] = "hydrate_failed"
    failure: Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class HydrateCancelled(Payload):
    EVENT: ClassVar[str] = "hydrate_cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalModified(Payload):
    """``cached_hash`` is ``None`` while the bytes have not been hashed (a write in progress)."""

    EVENT: ClassVar[str] = "local_modified"
    size: int
    mtime: float
    cached_hash: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalOverwritten(Payload):
    EVENT: ClassVar[str] = "local_overwritten"
    size: int
    mtime: float
    cached_hash: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalRenamed(Payload):
    EVENT: ClassVar[str] = "local_renamed"
    parent: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalTimesChanged(Payload):
    """utime() through the mount: the mtime the user set (seconds since the epoch)."""

    EVENT: ClassVar[str] = "local_times_changed"
    mtime: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalDeleted(Payload):
    EVENT: ClassVar[str] = "local_deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadSucceeded(Payload):
    """The server's reply item, and the ``local_change_seq`` of the snapshot that was sent.

    ``sent_mtime`` is the row's mtime the upload (or mkdir) gave the server, read when it was
    sent: a create's reply is compared with it (attributes_changed_since_sent), not with the
    server's stamp, which may keep fewer digits. ``None``: the job set no time.
    """

    EVENT: ClassVar[str] = "upload_succeeded"
    remote: RemoteState
    snapshot_seq: int
    sent_mtime: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadFailed(Payload):
    EVENT: ClassVar[str] = "upload_failed"
    failure: Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadConflicted(Payload):
    """412 (someone changed it) with the server's current item, or 409 on a new name (None)."""

    EVENT: ClassVar[str] = "upload_conflicted"
    remote: RemoteState | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteChanged(Payload):
    """``writers``: whether a process holds the file open for writing (the FUSE layer knows)."""

    EVENT: ClassVar[str] = "remote_changed"
    remote: RemoteState
    writers: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteDeleted(Payload):
    EVENT: ClassVar[str] = "remote_deleted"
    writers: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Evict(Payload):
    EVENT: ClassVar[str] = "evict"
    open_handles: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteConfirmed(Payload):
    EVENT: ClassVar[str] = "delete_confirmed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRejected(Payload):
    EVENT: ClassVar[str] = "delete_rejected"
    failure: Failure


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveKeepLocal(Payload):
    EVENT: ClassVar[str] = "resolve_keep_local"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveKeepRemote(Payload):
    EVENT: ClassVar[str] = "resolve_keep_remote"
    writers: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveKeepBoth(Payload):
    EVENT: ClassVar[str] = "resolve_keep_both"
    writers: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryRequested(Payload):
    EVENT: ClassVar[str] = "retry_requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class NameCollided(Payload):
    """``arrival`` is the other item delta brought onto this item's parent and name."""

    EVENT: ClassVar[str] = "name_collided"
    arrival: RemoteState


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveSucceeded(Payload):
    """The server's reply to our PATCH: the name and parent it now holds; the mtime we sent."""

    EVENT: ClassVar[str] = "move_succeeded"
    remote: RemoteState
    sent_mtime: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WritersClosed(Payload):
    EVENT: ClassVar[str] = "writers_closed"


PAYLOADS: Mapping[str, type[Payload]] = MappingProxyType(
    {
        cls.EVENT: cls
        for cls in (
            RemoteAppeared,
            LocalCreated,
            VirtualCreated,
            HydrateRequested,
            HydrateSucceeded,
            HydrateFailed,
            HydrateCancelled,
            LocalModified,
            LocalOverwritten,
            LocalRenamed,
            LocalTimesChanged,
            LocalDeleted,
            UploadSucceeded,
            UploadFailed,
            UploadConflicted,
            RemoteChanged,
            RemoteDeleted,
            Evict,
            DeleteConfirmed,
            DeleteRejected,
            ResolveKeepLocal,
            ResolveKeepRemote,
            ResolveKeepBoth,
            RetryRequested,
            NameCollided,
            MoveSucceeded,
            WritersClosed,
        )
    }
)
