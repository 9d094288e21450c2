"""Typed, validated views of Graph's JSON: :class:`DriveItem`, :class:`Drive`, upload status.

Everything the client returns is parsed here, once, so nothing downstream indexes raw JSON
(where a missing key would surface as a ``KeyError`` far from the cause). A name from the server
becomes a path component in the mount, so it is validated here, before anything can use it: a
``/``, a NUL, ``.`` or ``..`` makes the item malformed.

A single item (:func:`parse_item`) that is malformed makes the answer a
:class:`MalformedResponse`. A page of items (:func:`parse_items`) is not refused for one bad
element: delta would then serve the same page forever and nothing after it would ever sync.
The page keeps its good items, in order, and a :class:`RejectedItem` for each bad one.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from onemount.graph.errors import ErrorInfo, MalformedResponse
from onemount.names import check_component

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# What the parsers below raise for JSON of the wrong shape (a ForbiddenName is a ValueError).
_SHAPE_ERRORS = (TypeError, ValueError)


class ItemKind(enum.Enum):
    """Which facet an item carries. A package (OneNote) has neither ``file`` nor ``folder``."""

    FILE = "file"
    FOLDER = "folder"
    PACKAGE = "package"
    UNKNOWN = "unknown"  # e.g. a minimal delete entry ``{"id": ..., "deleted": {}}``


@dataclass(frozen=True)
class RemoteRef:
    """The ``remoteItem`` facet: the item really lives in another drive (a shared folder)."""

    id: str
    drive_id: str | None
    name: str | None
    kind: ItemKind
    size: int | None


@dataclass(frozen=True)
class DriveItem:
    """One driveItem as the client needs it.

    Both tags are kept because they answer different questions: ``etag`` changes on any change
    (it is what If-Match guards), ``ctag`` only on content changes (what invalidates cached
    bytes). ``name`` is ``None`` only on deleted entries (Business omits it there).
    ``quick_xor_hash`` is ``None`` when the server has none yet, and on deleted entries, whose
    all-zero hash is meaningless.
    """

    id: str
    name: str | None
    kind: ItemKind
    etag: str | None = None
    ctag: str | None = None
    size: int | None = None
    quick_xor_hash: str | None = None
    mime_type: str | None = None
    child_count: int | None = None
    package_type: str | None = None
    parent_id: str | None = None
    drive_id: str | None = None
    created: datetime | None = None  # the service's createdDateTime
    modified: datetime | None = None  # the service's lastModifiedDateTime
    fs_created: datetime | None = None  # fileSystemInfo: what the client that wrote it said
    fs_modified: datetime | None = None
    is_root: bool = False
    deleted: bool = False
    remote: RemoteRef | None = None

    @property
    def is_file(self) -> bool:
        return self.kind is ItemKind.FILE

    @property
    def is_folder(self) -> bool:
        return self.kind is ItemKind.FOLDER


@dataclass(frozen=True)
class Quota:
    """``drive.quota``, in bytes; ``state`` is normal / nearing / critical / exceeded."""

    total: int | None
    used: int | None
    remaining: int | None
    deleted: int | None
    state: str | None


@dataclass(frozen=True)
class Drive:
    id: str
    drive_type: str | None
    quota: Quota | None


@dataclass(frozen=True)
class UploadStatus:
    """An upload session's answer: where to send from, until when it lives."""

    upload_url: str | None
    next_expected: tuple[tuple[int, int | None], ...]  # (start, end inclusive or open)
    expiration: datetime | None

    @property
    def next_offset(self) -> int | None:
        """Where the next fragment must start: the first missing byte (None when complete)."""
        return self.next_expected[0][0] if self.next_expected else None


@dataclass(frozen=True)
class RejectedItem:
    """An element of a page that is not a usable driveItem, and why.

    ``id`` is the element's id when it could be read (a non-empty string), so a caller can
    tell which item it has not heard about; ``reason`` says what was wrong, never the JSON.
    """

    id: str | None
    reason: str


@dataclass(frozen=True)
class ParsedItems:
    """A ``value`` array: the good items in server order, and the rejected elements."""

    items: list[DriveItem]
    rejected: tuple[RejectedItem, ...]


def safe_name(name: str) -> str:
    """``name`` if it can be one path component; a :class:`ValueError` otherwise.

    The rule is :func:`onemount.names.check_component`'s; its error is a ``ValueError``.
    """
    check_component(name)
    return name


def parse_item(data: Any) -> DriveItem:
    """A :class:`DriveItem` from one driveItem JSON object; :class:`MalformedResponse` if bad."""
    return _parsing(_item, data)


def parse_items(values: Any) -> ParsedItems:
    """Every element of a ``value`` array, each parsed on its own.

    A bad element is logged once at WARNING (its id and the reason) and returned as a
    :class:`RejectedItem`; only a ``value`` that is not a list refuses the whole page.
    """
    if not isinstance(values, list):
        raise MalformedResponse(ErrorInfo(None), "'value' is not a list")
    items: list[DriveItem] = []
    rejected: list[RejectedItem] = []
    for value in values:
        try:
            items.append(_item(_obj(value)))
        except _SHAPE_ERRORS as exc:
            bad = RejectedItem(_readable_id(value), str(exc))
            log.warning("rejected an item of a page (id %s): %s", bad.id or "unknown", bad.reason)
            rejected.append(bad)
    return ParsedItems(items, tuple(rejected))


def parse_drive(data: Any) -> Drive:
    return _parsing(_drive, data)


def parse_upload_status(data: Any) -> UploadStatus:
    return _parsing(_upload_status, data)


def _parsing(parse: Callable[[Mapping[str, Any]], _T], data: Any) -> _T:
    """Run ``parse`` and turn any shape error into :class:`MalformedResponse`."""
    try:
        return parse(_obj(data))
    except _SHAPE_ERRORS as exc:
        raise MalformedResponse(ErrorInfo(None), str(exc)) from exc


def _item(data: Mapping[str, Any]) -> DriveItem:
    deleted = data.get("deleted") is not None
    file = _opt_obj(data, "file")
    folder = _opt_obj(data, "folder")
    package = _opt_obj(data, "package")
    parent = _opt_obj(data, "parentReference") or {}
    fsinfo = _opt_obj(data, "fileSystemInfo") or {}
    hashes = _opt_obj(file, "hashes") if file else None
    quick_xor = _opt_str(hashes, "quickXorHash") if hashes else None
    name = _opt_str(data, "name")
    if name is None and not deleted:
        raise ValueError("a live item without a name")
    remote = _opt_obj(data, "remoteItem")
    return DriveItem(
        id=_req_str(data, "id"),
        name=safe_name(name) if name is not None else None,
        kind=_kind(file, folder, package),
        etag=_opt_str(data, "eTag"),
        ctag=_opt_str(data, "cTag"),
        size=_opt_size(data, "size"),
        # The all-zero hash is the real hash of an empty file; on a tombstone it means nothing.
        quick_xor_hash=None if deleted else quick_xor,
        mime_type=_opt_str(file, "mimeType") if file else None,
        child_count=_opt_size(folder, "childCount") if folder else None,
        package_type=_opt_str(package, "type") if package else None,
        parent_id=_opt_str(parent, "id"),
        drive_id=_opt_str(parent, "driveId"),
        created=_opt_time(data, "createdDateTime"),
        modified=_opt_time(data, "lastModifiedDateTime"),
        fs_created=_opt_time(fsinfo, "createdDateTime"),
        fs_modified=_opt_time(fsinfo, "lastModifiedDateTime"),
        is_root=data.get("root") is not None,
        deleted=deleted,
        remote=_remote(remote) if remote is not None else None,
    )


def _remote(data: Mapping[str, Any]) -> RemoteRef:
    name = _opt_str(data, "name")
    parent = _opt_obj(data, "parentReference") or {}
    return RemoteRef(
        id=_req_str(data, "id"),
        drive_id=_opt_str(parent, "driveId"),
        name=safe_name(name) if name is not None else None,
        kind=_kind(_opt_obj(data, "file"), _opt_obj(data, "folder"), _opt_obj(data, "package")),
        size=_opt_size(data, "size"),
    )


def _kind(file: object, folder: object, package: object) -> ItemKind:
    if folder is not None:
        return ItemKind.FOLDER
    if file is not None:
        return ItemKind.FILE
    if package is not None:
        return ItemKind.PACKAGE
    return ItemKind.UNKNOWN


def _drive(data: Mapping[str, Any]) -> Drive:
    quota = _opt_obj(data, "quota")
    return Drive(
        id=_req_str(data, "id"),
        drive_type=_opt_str(data, "driveType"),
        quota=Quota(
            total=_opt_size(quota, "total"),
            used=_opt_size(quota, "used"),
            remaining=_opt_size(quota, "remaining"),
            deleted=_opt_size(quota, "deleted"),
            state=_opt_str(quota, "state"),
        )
        if quota is not None
        else None,
    )


def _upload_status(data: Mapping[str, Any]) -> UploadStatus:
    ranges = data.get("nextExpectedRanges", [])
    if not isinstance(ranges, list):
        raise TypeError("nextExpectedRanges is not a list")
    return UploadStatus(
        upload_url=_opt_str(data, "uploadUrl"),
        next_expected=tuple(sorted(_byte_range(r) for r in ranges)),
        expiration=_opt_time(data, "expirationDateTime"),
    )


def _byte_range(text: object) -> tuple[int, int | None]:
    """``"12-34"`` -> (12, 34); ``"12-"`` -> (12, None). Graph's ranges are inclusive."""
    if not isinstance(text, str) or "-" not in text:
        raise ValueError(f"bad byte range {text!r}")
    start, _, end = text.partition("-")
    first = int(start)
    last = int(end) if end else None
    if first < 0 or (last is not None and last < first):
        raise ValueError(f"bad byte range {text!r}")
    return first, last


def _readable_id(data: Any) -> str | None:
    if isinstance(data, Mapping):
        value = data.get("id")
        if isinstance(value, str) and value:
            return value
    return None


def _obj(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _opt_obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    return None if value is None else _obj(value)


def _req_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} missing or not a non-empty string")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key!r} is not a string")
    return value


def _opt_size(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    # bool is an int in Python; a JSON true is not a size.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{key!r} is not a non-negative integer")
    return value


def _opt_time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = _opt_str(data, key)
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{key!r} has no time zone: {value!r}")
    return parsed
