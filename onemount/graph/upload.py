"""Uploading a file: one PUT for small files, a resumable upload session for the rest.

Nothing is ever overwritten blindly (L17). A target is either a :class:`NewItem`, sent with
``conflictBehavior=fail`` so an existing name is a :class:`NameConflict`, or a :class:`Replace`
of a known item, sent with ``If-Match`` so a version changed by someone else is a
:class:`PreconditionFailed`. There is no third way to call it.

Sessions carry ``fileSystemInfo`` at creation (a later PATCH would make a second version on
Business), send fragments that are multiples of 320 KiB, and resume from the server's
``nextExpectedRanges``: after a dropped fragment, after a 416, and after a restart of the process
when the caller keeps the :class:`SessionRecord`. A session the server lost (404, or Business's
403 once its URL's embedded token expires) is replaced by a new one, a bounded number of times.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from onemount.graph.config import GraphConfig
from onemount.graph.core import Core, Request, json_body
from onemount.graph.errors import (
    ErrorInfo,
    GraphError,
    MalformedResponse,
    NotFound,
    Offline,
    RangeNotSatisfiable,
    ServerError,
    Throttled,
)
from onemount.graph.items import DriveItem, UploadStatus, parse_item, parse_upload_status, safe_name
from onemount.graph.paths import child_path, item_path
from onemount.graph.retry import Attempt
from onemount.graph.sessions import SessionRecord, SessionStore
from onemount.quickxorhash import hash_file

_FAIL = {"@microsoft.graph.conflictBehavior": "fail"}
# Errors after which an open session may still be resumed later; any other error means the
# session cannot produce the intended result and is cancelled.
_TRANSIENT = (Offline, Throttled, ServerError)


@dataclass(frozen=True)
class NewItem:
    """Create ``name`` in folder ``parent_id``; an existing item of that name is a conflict."""

    parent_id: str
    name: str

    def __post_init__(self) -> None:
        safe_name(self.name)

    def describe(self) -> str:
        return f"new:{self.parent_id}/{self.name}"


@dataclass(frozen=True)
class Replace:
    """Replace the content of ``item_id``, only if its eTag (or cTag) is still ``if_match``."""

    item_id: str
    if_match: str

    def describe(self) -> str:
        return f"replace:{self.item_id}@{self.if_match}"


UploadTarget = NewItem | Replace


@dataclass(frozen=True)
class FileTimes:
    """``fileSystemInfo`` to record on the uploaded item (None leaves the server's choice)."""

    created: datetime | None = None
    modified: datetime | None = None

    def as_json(self) -> dict[str, str]:
        times = {"createdDateTime": self.created, "lastModifiedDateTime": self.modified}
        return {key: _iso(value) for key, value in times.items() if value is not None}


NO_TIMES = FileTimes()


class Uploader:
    def __init__(self, core: Core, config: GraphConfig) -> None:
        self.core = core
        self.config = config
        self.drive = config.drive

    async def upload(
        self,
        source: Path,
        target: UploadTarget,
        *,
        times: FileTimes = NO_TIMES,
        sessions: SessionStore | None = None,
        key: str | None = None,
    ) -> DriveItem:
        """Upload ``source`` to ``target`` and return the resulting item.

        With ``sessions`` and ``key``, an upload session is recorded under ``key`` and resumed
        from there by a later call (in this process or another one) for the same source and
        target.
        """
        if (sessions is None) != (key is None):
            raise ValueError("a session store needs a key to file the session under, and back")
        stat = await trio.to_thread.run_sync(os.stat, source)
        size = stat.st_size
        if size == 0 or size <= self.config.simple_upload_limit:
            return await self._simple(source, size, target)
        job = _Job(source, size, stat.st_mtime_ns, target, times, sessions, key)
        return await self._session(job)

    # -- simple upload ---------------------------------------------------------------------------

    async def _simple(self, source: Path, size: int, target: UploadTarget) -> DriveItem:
        async def attempt(attempt: Attempt) -> DriveItem:
            content = await _read(source, 0, size)  # read again on every attempt (L18)
            response = await self.core.send(self._simple_request(target, content), attempt)
            return parse_item(json_body(response))

        return await self.core.retry(attempt)

    def _simple_request(self, target: UploadTarget, content: bytes) -> Request:
        if isinstance(target, NewItem):
            url = f"{self._child_path(target)}/content"
            return Request("PUT", url, params=_FAIL, content=content)
        headers = {"If-Match": target.if_match}
        return Request(
            "PUT", f"{self._item_path(target.item_id)}/content", headers=headers, content=content
        )

    # -- upload session --------------------------------------------------------------------------

    async def _session(self, job: _Job) -> DriveItem:
        record = await job.resumable()
        restarts = 0
        while True:
            fresh = record is None
            if record is None:
                record = await self._open_session(job)
                await job.remember(record)
            fragments = _Fragments(self.core, job, record, self.config.fragment_size)
            try:
                item = await fragments.run(check_first=not fresh)
            except GraphError as exc:
                if not _session_lost(exc):
                    if not isinstance(exc, _TRANSIENT):
                        await self._cancel(record)
                        await job.forget()
                    raise
                if fragments.sent_last or not fresh:
                    # The last fragment may have landed before the session vanished (or before a
                    # restart lost the answer): the item is then already there, complete.
                    done = await self._committed(job)
                    if done is not None:
                        await job.forget()
                        return done
                restarts += 1
                if restarts > self.config.max_session_restarts:
                    raise
                await job.forget()
                record = None
                continue
            await job.forget()
            return item

    async def _open_session(self, job: _Job) -> SessionRecord:
        target = job.target
        body: dict[str, Any] = {"item": {}}
        if fsinfo := job.times.as_json():
            body["item"]["fileSystemInfo"] = fsinfo
        if isinstance(target, NewItem):
            body["item"].update({**_FAIL, "name": target.name})
            request = Request("POST", f"{self._child_path(target)}/createUploadSession", json=body)
        else:
            body["item"]["@microsoft.graph.conflictBehavior"] = "replace"
            url = f"{self._item_path(target.item_id)}/createUploadSession"
            request = Request("POST", url, headers={"If-Match": target.if_match}, json=body)
        status = parse_upload_status(await self.core.call_json(lambda: request))
        if status.upload_url is None:
            raise MalformedResponse(ErrorInfo(200), "createUploadSession returned no uploadUrl")
        return SessionRecord(status.upload_url, target.describe(), job.size, job.mtime_ns)

    async def _committed(self, job: _Job) -> DriveItem | None:
        """The target item if it already holds exactly ``job``'s bytes, else None."""
        target = job.target
        url = (
            self._child_path(target)
            if isinstance(target, NewItem)
            else self._item_path(target.item_id)
        )
        try:
            item = parse_item(await self.core.call_json(lambda: Request("GET", url)))
        except NotFound:
            return None
        if item.size != job.size or item.quick_xor_hash is None:
            return None
        local = await trio.to_thread.run_sync(hash_file, job.source)
        return item if local == item.quick_xor_hash else None

    async def _cancel(self, record: SessionRecord) -> None:
        """Best effort: an abandoned session expires on its own anyway."""
        with contextlib.suppress(GraphError):
            await self.core.call(lambda: Request("DELETE", record.upload_url, auth=False))

    def _item_path(self, item_id: str) -> str:
        return item_path(self.drive, item_id)

    def _child_path(self, target: NewItem) -> str:
        return child_path(self.drive, target.parent_id, target.name)


@dataclass(frozen=True)
class _Job:
    """One upload's fixed inputs, and its record in the caller's session store (if any)."""

    source: Path
    size: int
    mtime_ns: int
    target: UploadTarget
    times: FileTimes
    sessions: SessionStore | None
    key: str | None

    async def resumable(self) -> SessionRecord | None:
        if self.sessions is None or self.key is None:
            return None
        record = await self.sessions.load(self.key)
        if record is None or not record.fits(self.target.describe(), self.size, self.mtime_ns):
            return None
        return record

    async def remember(self, record: SessionRecord) -> None:
        if self.sessions is not None and self.key is not None:
            await self.sessions.save(self.key, record)

    async def forget(self) -> None:
        if self.sessions is not None and self.key is not None:
            await self.sessions.clear(self.key)


class _Fragments:
    """Sends the bytes the session still expects, as one retried operation.

    Progress is the offset the server confirmed, so a connection dropped in the middle of a
    gigabyte costs a retry, not the operation. Every attempt after a failure first asks the
    session where it stands: a dropped fragment may or may not have been stored.
    """

    def __init__(self, core: Core, job: _Job, record: SessionRecord, fragment: int) -> None:
        self.core = core
        self.job = job
        self.record = record
        self.fragment = fragment
        self.offset = record.offset
        self.limit: int | None = None  # end (exclusive) of the range the server expects
        self.sent_last = False

    async def run(self, *, check_first: bool) -> DriveItem:
        self._check_first = check_first
        return await self.core.retry(self._attempt, progress=lambda: self.offset)

    async def _attempt(self, attempt: Attempt) -> DriveItem:
        if self._check_first or attempt.number > 1:
            await self._realign(attempt)
        realigned = False
        while True:
            end = min(self.offset + self.fragment, self.limit or self.job.size, self.job.size)
            if end <= self.offset:
                raise MalformedResponse(ErrorInfo(None), "the session expects no bytes")
            content = await _read(self.job.source, self.offset, end - self.offset)
            self.sent_last = self.sent_last or end == self.job.size
            span = f"bytes {self.offset}-{end - 1}/{self.job.size}"
            request = Request(
                "PUT",
                self.record.upload_url,
                headers={"Content-Range": span},
                content=content,
                auth=False,
            )
            try:
                response = await self.core.send(request, attempt)
            except RangeNotSatisfiable:
                # The server holds other bytes than we thought (e.g. a fragment we saw fail
                # had landed). Ask once; a second 416 right after is a real error.
                if realigned:
                    raise
                await self._realign(attempt)
                realigned = True
                continue
            body = json_body(response)
            if response.status_code in (200, 201):
                return parse_item(body)
            await self._advance(parse_upload_status(body))
            realigned = False

    async def _realign(self, attempt: Attempt) -> None:
        self._check_first = False
        request = Request("GET", self.record.upload_url, auth=False)
        status = parse_upload_status(json_body(await self.core.send(request, attempt)))
        await self._advance(status)

    async def _advance(self, status: UploadStatus) -> None:
        if status.next_offset is None:
            raise MalformedResponse(ErrorInfo(None), "session answered without nextExpectedRanges")
        self.offset = status.next_offset
        last = status.next_expected[0][1]
        self.limit = last + 1 if last is not None else None
        self.record = replace(self.record, offset=self.offset)
        await self.job.remember(self.record)


def _session_lost(exc: GraphError) -> bool:
    """The session URL no longer works: gone (404) or its embedded token expired (403)."""
    return isinstance(exc, NotFound) or exc.status == 403


async def _read(source: Path, offset: int, length: int) -> bytes:
    return await trio.to_thread.run_sync(_pread, source, offset, length)


def _pread(source: Path, offset: int, length: int) -> bytes:
    with open(source, "rb", buffering=0) as handle:
        data = os.pread(handle.fileno(), length, offset)
    if len(data) != length:
        raise OSError(f"{source} shrank during the upload")
    return data


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
