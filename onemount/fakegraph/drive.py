"""The fake's drive: items, versions, the change log behind delta, upload sessions and quota.

Everything lives in one SQLite file plus a folder of blobs, so a drive served by
``onemount fakegraph serve --data DIR`` survives restarts. The rules are the service's as
graph-api.md documents them (its checklist is quoted by number in comments), written here from
the documentation and not from what onemount's client sends:

* ids are opaque and stable across rename and move; names are unique per folder ignoring case;
* a file's eTag changes on every change, its cTag only when the bytes change; a folder's eTag
  does not move when children come and go; in personal mode a folder's cTag follows any change
  below it, in business mode folders have no cTag (4);
* a folder's size is the sum of everything below it (5);
* every change takes the next number of a drive-wide sequence. Delta is "everything whose
  number is above the cursor", so two edits between cursors give one entry with the final state
  (14), deletes are kept as tombstones, and a page boundary is a key in (number, id) order, so a
  walk in progress is stable while the drive changes under it: what changes meanwhile comes in
  the next walk.

The drive is used from the server's thread and from tests' threads at once: one re-entrant
lock serialises every operation (the fake is not the thing being measured for concurrency).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import random
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from onemount.fakegraph.errors import (
    FakeError,
    invalid_request,
    name_conflict,
    not_found,
    precondition_failed,
)
from onemount.fakegraph.names import check_name, check_path_length, name_key
from onemount.quickxorhash import QuickXorHash, hash_file

Mode = Literal["personal", "business"]
Conflict = Literal["fail", "replace", "rename"]
FRAGMENT_UNIT = 320 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drive_items(
    id TEXT PRIMARY KEY,
    guid TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    kind TEXT NOT NULL,             -- root | folder | file | package
    size INTEGER NOT NULL DEFAULT 0,
    etag_n INTEGER NOT NULL DEFAULT 1,
    ctag_n INTEGER NOT NULL DEFAULT 1,
    blob TEXT,                      -- file in blobs/; NULL for an empty file
    qxh TEXT,
    sha256 TEXT,
    mime TEXT,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    fs_created TEXT,
    fs_modified TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL,
    shuffle INTEGER NOT NULL        -- a random key, the delta order when shuffling is on
);
CREATE UNIQUE INDEX IF NOT EXISTS drive_items_name
    ON drive_items(parent_id, name_key) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS drive_items_seq ON drive_items(seq, id);
CREATE TABLE IF NOT EXISTS sessions(
    id TEXT PRIMARY KEY,
    parent_id TEXT,
    name TEXT,
    item_id TEXT,
    conflict TEXT NOT NULL,
    fs_created TEXT,
    fs_modified TEXT,
    total INTEGER,
    received INTEGER NOT NULL DEFAULT 0,
    blob TEXT NOT NULL,
    expires REAL NOT NULL
);
"""
_MIME = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".mp3": "audio/mpeg",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class DriveOptions:
    """The knobs of the fake; every one is a behaviour graph-api.md documents or reports.

    Tests change them at run time (``FakeDrive.options`` or ``POST /_fake/options``).
    """

    mode: Mode = "personal"
    quota_total: int = 1 << 40
    simple_upload_limit: int = 4 << 20  # 413 above it (25); the newer Graph docs say 250 MB
    max_fragment: int = 60 << 20  # 413 at or above it (27)
    strict_fragments: bool = False  # 400 for a non-final fragment not a multiple of 320 KiB (28)
    session_ttl: float = 86_400.0  # each fragment pushes the expiry forward (29)
    lost_session_status: int = 404  # business drives have shown 403 accessDenied (32)
    download_ttl: float = 3_600.0  # lifetime of a pre-authenticated download URL (21)
    replace_status: int = 200  # status of a simple PUT that replaced a file (24)
    missing_parent_status: int = 404  # PATCH to a parent that does not exist (35)
    sha256: bool = False  # personal option: add sha256Hash (6)
    delta_page_size: int = 200
    children_page_size: int = 200
    shuffle_delta: bool = False  # order within and across pages is random (15)
    duplicate_delta: bool = False  # each page repeats the previous page's last item (14)
    include_ancestors: bool = True  # delta after a cursor brings each item's ancestors (12)
    # Personal delta entries carry parentReference.path ("/drive/root:/a"): documented as
    # absent (17), observed present, and read by clients. Business never sends it.
    delta_parent_path: bool = True
    strict_upload_auth: bool = True  # 401 for an Authorization header on an upload URL (32)

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise KeyError(f"unknown option {key!r}")
            setattr(self, key, value)


@dataclass(frozen=True)
class Item:
    """One row of ``items``."""

    id: str
    guid: str
    parent_id: str | None
    name: str
    name_key: str
    kind: str
    size: int
    etag_n: int
    ctag_n: int
    blob: str | None
    qxh: str | None
    sha256: str | None
    mime: str | None
    created: str
    modified: str
    fs_created: str | None
    fs_modified: str | None
    deleted: int
    seq: int
    shuffle: int

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def is_folder(self) -> bool:
        return self.kind in ("folder", "root")

    @property
    def etag(self) -> str:
        return f'"{{{self.guid}}},{self.etag_n}"'

    @property
    def ctag(self) -> str:
        return f'"c:{{{self.guid}}},{self.ctag_n}"'

    def tag_matches(self, tag: str) -> bool:
        """``If-Match`` / ``If-None-Match`` accept the eTag or the cTag, or ``*`` (1.3)."""
        return tag.strip() == "*" or tag.strip() in (self.etag, self.ctag)


_ITEM_COLUMNS = ", ".join(f.name for f in fields(Item))
_INSERT_ITEM = (
    f"INSERT INTO drive_items({_ITEM_COLUMNS}) VALUES ({', '.join('?' * len(fields(Item)))})"
)


@dataclass(frozen=True)
class Session:
    """One row of ``sessions``: an upload in progress."""

    id: str
    parent_id: str | None
    name: str | None
    item_id: str | None
    conflict: str
    fs_created: str | None
    fs_modified: str | None
    total: int | None
    received: int
    blob: str
    expires: float


_SESSION_COLUMNS = ", ".join(f.name for f in fields(Session))


@dataclass(frozen=True)
class Quota:
    total: int
    used: int
    deleted: int

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.used)

    @property
    def state(self) -> str:
        if self.used >= self.total:
            return "exceeded"
        if self.remaining < self.total / 100:
            return "critical"
        if self.remaining < self.total / 10:
            return "nearing"
        return "normal"


@dataclass(frozen=True)
class DeltaPage:
    """Items to render, and the token of the next page or of the next cursor (one of them)."""

    items: list[Item]
    next_token: str | None
    delta_token: str | None


@dataclass
class FileTimesIn:
    """``fileSystemInfo`` as a client supplied it; stored exactly as given (45)."""

    created: str | None = None
    modified: str | None = None

    @staticmethod
    def parse(data: Any) -> FileTimesIn:
        if data is None:
            return FileTimesIn()
        if not isinstance(data, dict):
            raise invalid_request("fileSystemInfo must be an object")
        times = FileTimesIn(data.get("createdDateTime"), data.get("lastModifiedDateTime"))
        for value in (times.created, times.modified):
            if value is not None and not _is_timestamp(value):
                raise invalid_request(f"not an ISO-8601 timestamp: {value!r}")
        return times


@dataclass
class _SessionHash:
    """The running hash of a session's bytes, so the commit of a gigabyte costs no re-read."""

    hasher: QuickXorHash = field(default_factory=QuickXorHash)
    offset: int = 0


class FakeDrive:
    """A OneDrive drive in ``data_dir`` (``drive.db`` and ``blobs/``)."""

    def __init__(
        self,
        data_dir: Path,
        options: DriveOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data_dir = data_dir
        self.blobs = data_dir / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0  # transactions open on this connection (batch() nests the others)
        self._rng = random.Random()
        self._hashes: dict[str, _SessionHash] = {}
        self._db = sqlite3.connect(
            data_dir / "drive.db", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        stored_mode = self._meta("mode")
        self.options = options or DriveOptions(mode=stored_mode or "personal")  # type: ignore[arg-type]
        if stored_mode is not None and stored_mode != self.options.mode:
            raise ValueError(f"{data_dir} holds a {stored_mode} drive, not {self.options.mode}")
        if self._meta("root_id") is None:
            self._create_drive()
        self.drive_id = self._require_meta("drive_id")
        self.root_id = self._require_meta("root_id")
        self._secret = self._require_meta("secret").encode()
        self._published = int(self._require_meta("seq"))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- bookkeeping -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic change; inside :meth:`batch`, part of the batch's."""
        with self._lock:
            if self._depth:
                yield self._db
                return
            self._depth = 1
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                self._published = int(self._require_meta("seq"))
            finally:
                self._depth = 0

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Every change in the block commits at once, as another device syncing a folder does:
        readers (delta, the notifier) see all of them or none. An error undoes them all."""
        with self._transaction():
            yield

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _require_meta(self, key: str) -> str:
        value = self._meta(key)
        if value is None:
            raise RuntimeError(f"drive database lacks {key}")
        return value

    def _set_meta(self, key: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value)))

    def change_sequence(self) -> int:
        """The number of the drive's latest committed change: it moves whenever anything
        changes. It takes no lock, so the notifier's loop never waits behind a batch."""
        return self._published

    def _next_seq(self) -> int:
        seq = int(self._require_meta("seq")) + 1
        self._set_meta("seq", seq)
        return seq

    def _create_drive(self) -> None:
        if self.options.mode == "business":
            drive_id = "b!" + base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
        else:
            drive_id = secrets.token_hex(8)  # the service: lowercase here, uppercase in ids
        with self._transaction() as db:
            for key, value in {
                "mode": self.options.mode,
                "drive_id": drive_id,
                "secret": secrets.token_hex(32),
                "seq": 0,
                "epoch": 1,
                "deleted_bytes": 0,
            }.items():
                self._set_meta(key, value)
            root_id = self._new_id(drive_id)
            self._set_meta("root_id", root_id)
            now = self._now()
            db.execute(
                _INSERT_ITEM,
                (root_id, _guid(), None, "root", "root", "root", 0, 1, 1, None, None, None, None,
                 now, now, now, now, 0, self._next_seq(), self._rng.getrandbits(62)),
            )  # fmt: skip

    def _new_id(self, drive_id: str | None = None) -> str:
        drive_id = drive_id or self.drive_id
        if self.options.mode == "business":
            return "01" + base64.b32encode(os.urandom(20)).decode()[:32]
        return f"{drive_id.upper()}!s{uuid.uuid4().hex}"

    def _now(self) -> str:
        return iso_time(self._clock())

    # -- reading -----------------------------------------------------------------------------

    def get(self, item_id: str, *, include_deleted: bool = False) -> Item:
        """The item ``item_id`` (ids are case-sensitive, 1); 404 when there is none."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM drive_items WHERE id = ?", (item_id,)
            ).fetchone()
        if row is None or (row[-3] and not include_deleted):
            raise not_found(f"Item not found: {item_id}")
        return Item(*row)

    def child(self, parent_id: str, name: str) -> Item | None:
        """The live child of ``parent_id`` whose name equals ``name`` ignoring case."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM drive_items"
                " WHERE parent_id = ? AND name_key = ? AND deleted = 0",
                (parent_id, name_key(name)),
            ).fetchone()
        return None if row is None else Item(*row)

    def resolve(self, base_id: str, segments: list[str]) -> Item:
        """The item at ``segments`` below ``base_id``, compared case-insensitively (1)."""
        item = self.get(base_id)
        for segment in segments:
            found = self.child(item.id, segment)
            if found is None:
                raise not_found(f"Item not found: {'/'.join(segments)}")
            item = found
        return item

    def child_count(self, folder_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM drive_items WHERE parent_id = ? AND deleted = 0", (folder_id,)
            ).fetchone()
        return int(row[0])

    def path_of(self, item: Item) -> str:
        """``/drive/root:/a/b`` (the parent's path form Graph puts in parentReference.path)."""
        names: list[str] = []
        current = item
        while current.parent_id is not None:
            names.append(current.name)
            current = self.get(current.parent_id, include_deleted=True)
        return "/".join(reversed(names))

    def children(self, parent_id: str, after: tuple[str, str] | None, top: int) -> list[Item]:
        """Up to ``top`` live children in (name key, id) order, after the key ``after``."""
        parent = self.get(parent_id)
        if not parent.is_folder:
            raise invalid_request("The item is not a folder")
        key, last_id = after or ("", "")
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM drive_items WHERE parent_id = ? AND deleted = 0"
                " AND (name_key, id) > (?, ?) ORDER BY name_key, id LIMIT ?",
                (parent_id, key, last_id, top),
            ).fetchall()
        return [Item(*row) for row in rows]

    def quota(self) -> Quota:
        with self._lock:
            used = self._db.execute(
                "SELECT COALESCE(SUM(size), 0) FROM drive_items WHERE kind = 'file' AND deleted = 0"
            ).fetchone()[0]
            deleted = int(self._require_meta("deleted_bytes"))
        return Quota(self.options.quota_total, int(used), deleted)

    def blob_path(self, item: Item) -> Path | None:
        return None if item.blob is None else self.blobs / item.blob

    def read_all(self, item_id: str) -> bytes:
        """A file's bytes (for tests acting as another device)."""
        path = self.blob_path(self.get(item_id))
        return b"" if path is None else path.read_bytes()

    # -- writing -----------------------------------------------------------------------------

    def create_folder(self, parent_id: str, name: str, conflict: Conflict = "fail") -> Item:
        """``POST /children`` with a folder facet (34)."""
        with self._transaction():
            parent = self._live_folder(parent_id)
            name = self._free_name(parent, name, conflict)
            self._check_quota(0, new_item=True)
            return self._insert(parent, name, "folder")

    def put_bytes(
        self,
        parent_id: str,
        name: str,
        data: bytes,
        *,
        conflict: Conflict = "replace",
        times: FileTimesIn | None = None,
    ) -> tuple[Item, bool]:
        """Create or replace ``name`` in ``parent_id`` with ``data``; (item, created)."""
        blob = self.write_blob(data)
        return self.put_blob(parent_id, name, blob, conflict=conflict, times=times)

    def put_file(self, parent_id: str, name: str, source: Path) -> Item:
        """Another device uploads ``source`` (moved into the drive's blobs, not copied)."""
        blob = f"{uuid.uuid4().hex}"
        os.replace(source, self.blobs / blob)
        item, _ = self.put_blob(parent_id, name, blob, conflict="replace", times=None)
        return item

    def put_blob(
        self,
        parent_id: str,
        name: str,
        blob: str | None,
        *,
        conflict: Conflict,
        times: FileTimesIn | None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        qxh: str | None = None,
    ) -> tuple[Item, bool]:
        """Put the blob (already in ``blobs/``) at ``name``; the blob is the drive's after.

        ``If-None-Match`` matching the existing item (``*`` matches any) refuses with 412 (7).
        """
        try:
            with self._transaction():
                parent = self._live_folder(parent_id)
                existing = self.child(parent.id, name)
                if existing is not None and if_none_match and existing.tag_matches(if_none_match):
                    raise precondition_failed()
                if existing is not None and conflict == "replace" and existing.is_file:
                    if if_match is not None and not existing.tag_matches(if_match):
                        raise precondition_failed()
                    return self._replace_content(existing, blob, times, qxh), False
                if if_match is not None:
                    raise precondition_failed() if existing is None else name_conflict(name)
                name = self._free_name(parent, name, conflict)
                size = self._blob_size(blob)
                self._check_quota(size, new_item=True)
                content = self._content(blob, qxh)
                return self._insert(parent, name, "file", content=content, times=times), True
        except BaseException:
            self._drop_blob(blob)
            raise

    def replace_content(
        self,
        item_id: str,
        blob: str | None,
        *,
        if_match: str | None,
        if_none_match: str | None = None,
        times: FileTimesIn | None = None,
        qxh: str | None = None,
    ) -> Item:
        """``PUT /items/{id}/content``: new bytes for an existing file (``If-Match`` and
        ``If-None-Match`` honoured, 7)."""
        try:
            with self._transaction():
                item = self.get(item_id)
                if not item.is_file:
                    raise invalid_request("Only files have content")
                if if_match is not None and not item.tag_matches(if_match):
                    raise precondition_failed()
                if if_none_match and item.tag_matches(if_none_match):
                    raise precondition_failed()
                return self._replace_content(item, blob, times, qxh)
        except BaseException:
            self._drop_blob(blob)
            raise

    def update(
        self,
        item_id: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        times: FileTimesIn | None = None,
        if_match: str | None = None,
        conflict: Conflict = "fail",
    ) -> Item:
        """``PATCH``: rename, move, new fileSystemInfo; eTag moves, cTag does not (35)."""
        with self._transaction() as db:
            item = self.get(item_id)
            if item.kind == "root":
                raise FakeError(403, "accessDenied", "The root cannot be renamed or moved")
            if if_match is not None and not item.tag_matches(if_match):
                raise precondition_failed()
            new_name = item.name if name is None else name
            old_parent = self.get(item.parent_id or "")
            new_parent = old_parent
            if parent_id is not None and parent_id != item.parent_id:
                try:
                    new_parent = self.get(parent_id)
                except FakeError:
                    status = self.options.missing_parent_status
                    raise FakeError(status, "itemNotFound", "The parent does not exist") from None
                if not new_parent.is_folder:
                    raise invalid_request("The parent is not a folder")
                if self._is_inside(new_parent, item.id):
                    raise invalid_request("A folder cannot move into itself")
            if name is not None:
                check_name(new_name, mode=self.options.mode)
            clash = self.child(new_parent.id, new_name)
            if clash is not None and clash.id != item.id:
                if conflict == "replace":
                    self._delete_tree(clash)
                elif conflict == "rename":
                    new_name = self._free_name(new_parent, new_name, "rename")
                else:
                    raise name_conflict(new_name)
            self._check_path(new_parent, new_name)
            fs = times or FileTimesIn()
            seq = self._next_seq()
            db.execute(
                "UPDATE drive_items SET name = ?, name_key = ?, parent_id = ?, etag_n = etag_n + 1,"
                " fs_created = COALESCE(?, fs_created), fs_modified = COALESCE(?, fs_modified),"
                " modified = ?, seq = ?, shuffle = ? WHERE id = ?",
                (new_name, name_key(new_name), new_parent.id, fs.created, fs.modified,
                 self._now(), seq, self._rng.getrandbits(62), item.id),
            )  # fmt: skip
            if new_parent.id != old_parent.id:
                self._ancestors_changed(old_parent.id, -item.size)
                self._ancestors_changed(new_parent.id, item.size)
            else:
                self._ancestors_changed(old_parent.id, 0)
            return self.get(item.id)

    def delete(self, item_id: str, *, if_match: str | None = None) -> None:
        """``DELETE``: to the recycle bin; descendants become tombstones too (16, 36)."""
        with self._transaction():
            item = self.get(item_id)
            if item.kind == "root":
                raise FakeError(403, "accessDenied", "The root cannot be deleted")
            if if_match is not None and not item.tag_matches(if_match):
                raise precondition_failed()
            self._delete_tree(item)

    def expire_delta_tokens(self) -> None:
        """Every delta token handed out so far now answers 410 resyncRequired (19)."""
        with self._transaction():
            self._set_meta("epoch", int(self._require_meta("epoch")) + 1)

    # -- delta -------------------------------------------------------------------------------

    def delta(
        self,
        token: str | None,
        top: int | None = None,
        *,
        folder_id: str | None = None,
        ancestors: bool = True,
    ) -> DeltaPage:
        """One page of the feed from ``token`` (None: enumerate all; "latest": a cursor only).

        ``folder_id`` scopes the feed to that folder and everything below it, which personal
        drives allow (graph-api.md §2.1.5); ancestors then stop at that folder. An item moved
        out of the folder simply stops appearing in its feed (the documents do not say what
        the service reports for it). ``ancestors=False`` is the ``deltaExcludeParent`` request
        header: changed items only (§2.2).
        """
        top = top or self.options.delta_page_size
        with self._lock:
            epoch = int(self._require_meta("epoch"))
            now_seq = int(self._require_meta("seq"))
            if token == "latest":
                return DeltaPage([], None, self._token({"f": now_seq}, epoch))
            if token is None:
                state: dict[str, Any] = {"f": 0, "u": now_seq}
            else:
                state = self._read_token(token, epoch)
                state.setdefault("u", now_seq)
            scope = None if folder_id is None or folder_id == self.root_id else folder_id
            return self._delta_page(state, top, epoch, scope, ancestors)

    def _delta_page(
        self, state: dict[str, Any], top: int, epoch: int, scope: str | None, ancestors: bool
    ) -> DeltaPage:
        since, upto = int(state["f"]), int(state["u"])
        after_key, after_id = state.get("k", -1), state.get("i", "")
        order = "shuffle" if self.options.shuffle_delta else "seq"
        live_only = " AND deleted = 0" if since == 0 else ""
        subtree = ""
        scope_args: tuple[str, ...] = ()
        if scope is not None:  # tombstones keep their parent_id, so deletes stay in scope
            subtree = (
                " AND id IN (WITH RECURSIVE below(id) AS (SELECT ? UNION ALL SELECT d.id"
                " FROM drive_items d JOIN below ON d.parent_id = below.id) SELECT id FROM below)"
            )
            scope_args = (scope,)
        # In seq order a continuation starts its index range at the last key: SQLite bounds
        # the scan by one lower bound only, and "seq > since" would rescan the walk so far on
        # every page (a 100,000-item walk went quadratic). The row-value test then only skips
        # the few entries that share the last key.
        low = max(since + 1, int(after_key)) if order == "seq" else since + 1
        rows = self._db.execute(
            f"SELECT {_ITEM_COLUMNS} FROM drive_items WHERE seq >= ? AND seq <= ?{live_only}"
            f"{subtree} AND ({order}, id) > (?, ?) ORDER BY {order}, id LIMIT ?",
            (low, upto, *scope_args, after_key, after_id, top + 1),
        ).fetchall()
        items = [Item(*row) for row in rows[:top]]
        page = list(items)
        if self.options.duplicate_delta and "i" in state:
            # The previous page's last entry again, on top of this page's own: a repeat must
            # not take the place of progress, or a walk in pages of one would never end.
            repeat = self.get(str(state["i"]), include_deleted=True)
            if repeat.seq <= upto:  # unchanged since it was sent: a true duplicate
                page.insert(0, repeat)
        unchanged = bool(since) and ancestors and self.options.include_ancestors
        page = self._placed(page, since, scope, unchanged=unchanged)
        if self.options.shuffle_delta:
            self._rng.shuffle(page)
        if len(rows) > top:
            last = items[-1]
            key = last.shuffle if order == "shuffle" else last.seq
            cont = {"f": since, "u": upto, "k": key, "i": last.id}
            return DeltaPage(page, self._token(cont, epoch), None)
        return DeltaPage(page, None, self._token({"f": upto}, epoch))

    def _placed(
        self, items: list[Item], since: int, scope: str | None, *, unchanged: bool
    ) -> list[Item]:
        """Each item preceded by the ancestors a client needs first, up to the root (or to
        ``scope`` for a folder's feed).

        With ``unchanged``, the unchanged ancestors that place a changed item (12). And in the
        default order, any changed ancestor the walk would only reach later (a folder renamed
        after its children were written sorts after them by its last change): the service is
        observed to send parents first, and clients rely on it. Such an ancestor comes again
        at its own place on a later page, which the feed allows (14); on the same page it
        comes once. Under ``shuffle_delta`` order is random anyway, so nothing is pulled.
        """
        pull = not self.options.shuffle_delta
        out: list[Item] = []
        placed: set[str] = set()
        # Ancestors looked at on this page: whether one belongs before an item does not depend
        # on which item (the page is in ascending order), so each is looked at once.
        visited: set[str] = set() if pull else {item.id for item in items}
        for item in items:
            if item.id in placed:
                continue  # pulled ahead of a child earlier on this page
            chain: list[Item] = []
            parent_id = None if item.id == scope else item.parent_id
            while parent_id is not None and parent_id not in visited:
                try:
                    parent = self.get(parent_id)
                except FakeError:
                    break  # a tombstone's parent that is gone too
                visited.add(parent.id)
                changed = parent.seq > since
                later = changed and (parent.seq, parent.id) > (item.seq, item.id)
                if (unchanged and not changed) or (pull and later):
                    chain.append(parent)
                parent_id = None if parent.id == scope else parent.parent_id
            out.extend(reversed(chain))
            placed.update(a.id for a in chain)
            out.append(item)
            placed.add(item.id)
        return out

    def _token(self, state: dict[str, Any], epoch: int) -> str:
        raw = json.dumps({**state, "e": epoch}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _read_token(self, token: str, epoch: int) -> dict[str, Any]:
        try:
            state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if not isinstance(state, dict) or not isinstance(state.get("f"), int):
                raise ValueError(token)
        except (ValueError, binascii.Error):
            raise _resync() from None
        if state.pop("e", None) != epoch:
            raise _resync()
        return state

    # -- downloads ---------------------------------------------------------------------------

    def download_token(self, item: Item) -> str:
        """A signed, expiring token naming this version of the file (21)."""
        expires = int(self._clock() + self.options.download_ttl)
        body = f"{item.id}|{item.blob or ''}|{expires}"
        mac = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        return base64.urlsafe_b64encode(f"{body}|{mac}".encode()).decode().rstrip("=")

    def open_download(self, token: str) -> tuple[Item, Path | None]:
        """The file version a download token names; 401 when forged or expired, 404 if gone."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            item_id, blob, expires, mac = raw.rsplit("|", 3)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise FakeError(401, "unauthenticated", "Invalid download URL") from None
        body = f"{item_id}|{blob}|{expires}"
        good = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(good, mac) or int(expires) < self._clock():
            raise FakeError(401, "unauthenticated", "The download URL is invalid or expired")
        item = self.get(item_id)
        if (item.blob or "") != blob:
            raise not_found("That version of the file is gone")
        return item, self.blob_path(item)

    # -- upload sessions ---------------------------------------------------------------------

    def create_session(
        self,
        *,
        parent_id: str | None = None,
        name: str | None = None,
        item_id: str | None = None,
        conflict: Conflict = "fail",
        times: FileTimesIn | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        file_size: int | None = None,
    ) -> Session:
        """``createUploadSession`` for a path (parent and name) or an existing item (26)."""
        with self._transaction() as db:
            if item_id is not None:
                existing: Item | None = self.get(item_id)
                conflict = "replace"
            else:
                parent = self._live_folder(parent_id or "")
                check_name(name or "", mode=self.options.mode)
                self._check_path(parent, name or "")
                existing = self.child(parent.id, name or "")
            if existing is not None:
                if not existing.is_file:
                    raise name_conflict(existing.name)
                if if_none_match is not None and existing.tag_matches(if_none_match):
                    raise precondition_failed()
                if if_match is not None and not existing.tag_matches(if_match):
                    raise precondition_failed()
                if conflict == "fail":
                    raise name_conflict(existing.name)
            elif if_match is not None:
                raise precondition_failed()
            if file_size is not None and self.options.mode == "personal":
                self._check_quota(file_size - (existing.size if existing else 0))
            session = Session(
                id=secrets.token_urlsafe(24),
                parent_id=parent_id,
                name=name,
                item_id=item_id,
                conflict=conflict,
                fs_created=(times or FileTimesIn()).created,
                fs_modified=(times or FileTimesIn()).modified,
                total=None,
                received=0,
                blob=f"session-{uuid.uuid4().hex}",
                expires=self._clock() + self.options.session_ttl,
            )
            db.execute(
                f"INSERT INTO sessions({_SESSION_COLUMNS})"
                f" VALUES ({', '.join('?' * len(fields(Session)))})",
                tuple(getattr(session, f.name) for f in fields(Session)),
            )
        (self.blobs / session.blob).touch()
        return session

    def session(self, session_id: str) -> Session:
        """A live session; 404 (or 403 by option) once it is finished, cancelled or expired."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        if row is None or Session(*row).expires < self._clock():
            status = self.options.lost_session_status
            code = "accessDenied" if status == 403 else "itemNotFound"
            raise FakeError(
                status, code, "The upload session was not found", "uploadSessionNotFound"
            )
        return Session(*row)

    def cancel_session(self, session_id: str) -> None:
        session = self.session(session_id)
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        self._hashes.pop(session_id, None)
        self._drop_blob(session.blob)

    def put_fragment(
        self, session_id: str, content_range: str | None, data: bytes
    ) -> tuple[Session, Item | None, bool]:
        """Store one fragment (27-30): (session, item when complete, created)."""
        with self._lock:
            session = self.session(session_id)
            start, end, total = _parse_content_range(content_range)
            if len(data) != end - start + 1:
                raise invalid_request("Content-Range does not match the body", "invalidRange")
            if len(data) >= self.options.max_fragment:
                raise FakeError(
                    413, "invalidRequest", "Fragment too large", "maxFragmentLengthExceeded"
                )
            if session.total is not None and total != session.total:
                raise invalid_request("The declared total changed", "fragmentLengthMismatch")
            if start != session.received:
                inner = "fragmentOverlap" if start < session.received else "fragmentOutOfOrder"
                raise FakeError(
                    416, "invalidRange", f"Expected the fragment at {session.received}", inner
                )
            last = end + 1 == total
            if self.options.strict_fragments and not last and len(data) % FRAGMENT_UNIT:
                raise invalid_request("Fragment size must be a multiple of 320 KiB")
            path = self.blobs / session.blob
            with open(path, "r+b") as handle:
                handle.truncate(start)
                handle.seek(start)
                handle.write(data)
            running = self._hashes.setdefault(session.id, _SessionHash())
            if running.offset == start:
                running.hasher.update(data)
                running.offset = end + 1
            session = replace(
                session,
                total=total,
                received=end + 1,
                expires=self._clock() + self.options.session_ttl,
            )
            if not last:
                with self._transaction() as db:
                    db.execute(
                        "UPDATE sessions SET total = ?, received = ?, expires = ? WHERE id = ?",
                        (session.total, session.received, session.expires, session.id),
                    )
                return session, None, False
            try:
                item, created = self._commit_session(session, running)
            except FakeError:
                with open(path, "r+b") as handle:  # the final fragment is refused: not kept
                    handle.truncate(start)
                self._hashes.pop(session.id, None)
                raise
            return session, item, created

    def _commit_session(self, session: Session, running: _SessionHash) -> tuple[Item, bool]:
        path = self.blobs / session.blob
        qxh = running.hasher.b64digest() if running.offset == session.total else hash_file(path)
        final = uuid.uuid4().hex
        times = FileTimesIn(session.fs_created, session.fs_modified)
        os.link(path, self.blobs / final)  # the session's file survives a refused commit
        if session.item_id is not None:
            item = self.replace_content(session.item_id, final, if_match=None, times=times, qxh=qxh)
            created = False
        else:
            item, created = self.put_blob(
                session.parent_id or "",
                session.name or "",
                final,
                conflict=session.conflict,  # type: ignore[arg-type]
                times=times,
                qxh=qxh,
            )
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session.id,))
        self._hashes.pop(session.id, None)
        self._drop_blob(session.blob)
        return item, created

    # -- bulk --------------------------------------------------------------------------------

    def populate(self, count: int, *, fanout: int = 100) -> int:
        """Add ``count`` items (folders of up to ``fanout`` empty files) in one transaction.

        For benchmarks and paging tests that need a big drive quickly; returns the items added.
        """
        now = self._now()
        rows: list[tuple[Any, ...]] = []
        with self._transaction():
            seq = int(self._require_meta("seq"))
            base = f"bulk-{uuid.uuid4().hex[:8]}"
            folder_id = self.root_id
            for n in range(count):
                seq += 1
                item_id = self._new_id()
                if n % (fanout + 1) == 0:
                    name, kind, parent = f"{base}-{n // (fanout + 1):06d}", "folder", self.root_id
                    folder_id = item_id
                else:
                    name, kind, parent = f"file-{n:07d}.txt", "file", folder_id
                rows.append(
                    (item_id, _guid(), parent, name, name_key(name), kind, 0, 1, 1, None,
                     _EMPTY_QXH if kind == "file" else None, None,
                     "text/plain" if kind == "file" else None, now, now, now, now, 0, seq,
                     self._rng.getrandbits(62))
                )  # fmt: skip
            self._db.executemany(
                _INSERT_ITEM,
                rows,
            )
            self._set_meta("seq", seq)
        return len(rows)

    # -- internals ---------------------------------------------------------------------------

    def _live_folder(self, item_id: str) -> Item:
        item = self.get(item_id)
        if not item.is_folder:
            raise invalid_request("The parent is not a folder")
        return item

    def _is_inside(self, folder: Item, ancestor_id: str) -> bool:
        current: Item | None = folder
        while current is not None:
            if current.id == ancestor_id:
                return True
            current = self.get(current.parent_id) if current.parent_id else None
        return False

    def _free_name(self, parent: Item, name: str, conflict: str) -> str:
        """``name`` if free; under ``rename``, "name 1.ext", "name 2.ext", ... (24, 34)."""
        check_name(name, mode=self.options.mode)
        self._check_path(parent, name)
        existing = self.child(parent.id, name)
        if existing is None:
            return name
        if conflict != "rename":
            raise name_conflict(name)
        stem, dot, ext = name.rpartition(".") if "." in name[1:] else (name, "", "")
        for n in range(1, 10_000):
            candidate = f"{stem} {n}{dot}{ext}"
            if self.child(parent.id, candidate) is None:
                return candidate
        raise name_conflict(name)

    def _check_path(self, parent: Item, name: str) -> None:
        parent_path = self.path_of(parent)
        length = len(parent_path) + 1 + len(name) if parent_path else len(name)
        check_path_length(length, mode=self.options.mode)

    def _check_quota(self, growth: int, *, new_item: bool = False) -> None:
        """507 when ``growth`` bytes do not fit; a new item (even empty) also fails while the
        quota is ``exceeded``: "new files or folders fail until usage drops" (38, §9)."""
        quota = self.quota()
        if (growth > 0 and quota.used + growth > quota.total) or (
            new_item and quota.state == "exceeded"
        ):
            raise FakeError(507, "quotaLimitReached", "Insufficient Storage")

    def _content(self, blob: str | None, qxh: str | None) -> dict[str, Any]:
        size = self._blob_size(blob)
        path = self.blobs / blob if blob else None
        if qxh is None:
            qxh = hash_file(path) if path else _EMPTY_QXH
        sha = None
        if self.options.sha256 and self.options.mode == "personal":
            sha = _sha256(path)
        return {"blob": blob, "size": size, "qxh": qxh, "sha256": sha}

    def _insert(
        self,
        parent: Item,
        name: str,
        kind: str,
        *,
        content: dict[str, Any] | None = None,
        times: FileTimesIn | None = None,
    ) -> Item:
        content = content or {"blob": None, "size": 0, "qxh": None, "sha256": None}
        now = self._now()
        fs = times or FileTimesIn()
        item_id = self._new_id()
        mime = _mime(name) if kind == "file" else None
        if kind == "file" and content["qxh"] is None:
            content["qxh"] = _EMPTY_QXH
        self._db.execute(
            _INSERT_ITEM,
            (item_id, _guid(), parent.id, name, name_key(name), kind, content["size"], 1, 1,
             content["blob"], content["qxh"], content["sha256"], mime, now, now,
             fs.created or now, fs.modified or now, 0, self._next_seq(), self._rng.getrandbits(62)),
        )  # fmt: skip
        self._ancestors_changed(parent.id, content["size"])
        return self.get(item_id)

    def _replace_content(
        self, item: Item, blob: str | None, times: FileTimesIn | None, qxh: str | None
    ) -> Item:
        size = self._blob_size(blob)
        self._check_quota(size - item.size)
        content = self._content(blob, qxh)
        now = self._now()
        fs = times or FileTimesIn()
        self._db.execute(
            "UPDATE drive_items SET blob = ?, size = ?, qxh = ?, sha256 = ?, etag_n = etag_n + 1,"
            " ctag_n = ctag_n + 1, modified = ?, fs_created = COALESCE(?, fs_created),"
            " fs_modified = ?, seq = ?, shuffle = ? WHERE id = ?",
            (blob, content["size"], content["qxh"], content["sha256"], now, fs.created,
             fs.modified or now, self._next_seq(), self._rng.getrandbits(62), item.id),
        )  # fmt: skip
        self._ancestors_changed(item.parent_id or "", content["size"] - item.size)
        self._drop_blob(item.blob)
        return self.get(item.id)

    def _delete_tree(self, item: Item) -> None:
        seq = self._next_seq()
        doomed = [item]
        index = 0
        while index < len(doomed):
            current = doomed[index]
            index += 1
            if current.is_folder:
                rows = self._db.execute(
                    f"SELECT {_ITEM_COLUMNS} FROM drive_items WHERE parent_id = ? AND deleted = 0",
                    (current.id,),
                ).fetchall()
                doomed.extend(Item(*row) for row in rows)
        freed = sum(d.size for d in doomed if d.is_file)
        now = self._now()
        self._db.executemany(
            "UPDATE drive_items SET deleted = 1, seq = ?, modified = ?, blob = NULL WHERE id = ?",
            [(seq, now, d.id) for d in doomed],
        )
        self._set_meta("deleted_bytes", int(self._require_meta("deleted_bytes")) + freed)
        self._ancestors_changed(item.parent_id or "", -item.size)
        for d in doomed:
            self._drop_blob(d.blob)

    def _ancestors_changed(self, folder_id: str, size_delta: int) -> None:
        """Folder sizes follow their contents; personal folders' cTags follow any change.

        The folders keep their sequence numbers: derived properties do not make a folder
        "changed" for delta (its eTag stays too), so the folder a child moved out of is not
        re-reported. Delta brings ancestors to place items, not to refresh derived fields.
        """
        bump_ctag = 1 if self.options.mode == "personal" else 0
        current: str | None = folder_id
        while current:
            row = self._db.execute(
                "UPDATE drive_items SET size = size + ?, ctag_n = ctag_n + ? WHERE id = ?"
                " RETURNING parent_id",
                (size_delta, bump_ctag, current),
            ).fetchone()
            current = row[0] if row else None

    def write_blob(self, data: bytes) -> str | None:
        """Store ``data`` as a new blob; its name, or None for no bytes (an empty file)."""
        if not data:
            return None
        blob = uuid.uuid4().hex
        (self.blobs / blob).write_bytes(data)
        return blob

    def _blob_size(self, blob: str | None) -> int:
        return 0 if blob is None else (self.blobs / blob).stat().st_size

    def _drop_blob(self, blob: str | None) -> None:
        if blob is not None:
            (self.blobs / blob).unlink(missing_ok=True)


_EMPTY_QXH = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="


def iso_time(epoch: float) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as Graph writes its timestamps (45)."""
    stamp = datetime.fromtimestamp(epoch, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _resync() -> FakeError:
    return FakeError(
        410,
        "resyncRequired",
        "Resync required. Replace any local items with the server's version (including deletes)"
        " if you're sure that the service was up to date with your local changes when you last"
        " sync'd. Upload any local changes that the server doesn't know about.",
    )


def _parse_content_range(value: str | None) -> tuple[int, int, int]:
    """``bytes s-e/total`` -> (s, e, total); 400 for anything else."""
    if not value:
        raise invalid_request("Content-Range is required")
    unit, _, spec = value.strip().partition(" ")
    span, _, total = spec.partition("/")
    first, _, last = span.partition("-")
    if unit.lower() != "bytes" or not (first.isdigit() and last.isdigit() and total.isdigit()):
        raise invalid_request(f"Malformed Content-Range {value!r}", "invalidRange")
    start, end, size = int(first), int(last), int(total)
    if end < start or end >= size:
        raise invalid_request(f"Content-Range {value!r} is out of bounds", "invalidRange")
    return start, end, size


def _guid() -> str:
    return str(uuid.uuid4()).upper()


def _mime(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return (
        _MIME.get(f".{ext.lower()}", "application/octet-stream")
        if dot
        else "application/octet-stream"
    )


def _sha256(path: Path | None) -> str:
    digest = hashlib.sha256()
    if path is not None:
        with open(path, "rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
    return digest.hexdigest().upper()


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None
