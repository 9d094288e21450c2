"""The fake Graph as an ASGI application: Graph's routes, the download and upload URLs, the
admin routes tests use as "another device", and the fake identity platform.

Routes (all on one origin):

* ``/v1.0/me/drive...`` and ``/v1.0/drives/{id}...``: Graph, bearer token required (41);
* ``/dl/{token}``: pre-authenticated downloads with Range (21, 22);
* ``/up/{session}``: upload-session URLs, which refuse an Authorization header unless the
  ``strict_upload_auth`` option is off;
* ``/socket.io/``: change notifications (:mod:`onemount.fakegraph.notify`);
* ``/_fake/...``: admin (see :mod:`onemount.fakegraph.admin`);
* ``/{tenant}/oauth2/v2.0/...``: :class:`~onemount.fakegraph.oauth.FakeAuthority`.

Graph addresses items by id and by path (``/root:/a/b.txt:/content``). The path ends at the
first raw ``:`` (a ``%3A`` stays inside it), and is then percent-decoded *before* it is split
into names, as the service does: a ``%2F`` is a separator like ``/`` (a name sent that way
became a folder and a file, msgraph-sdk-dotnet#2565; a client that encoded whole paths reached
its folders, skilion/onedrive#167). A name cannot contain ``/``, so nothing is lost by it.

Anything the routes do not know, and any path the router cannot match (a newline in it), is
answered in Graph's error shape with a ``request-id`` like every other error (39).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from onemount.fakegraph.admin import admin_routes
from onemount.fakegraph.drive import Conflict, FakeDrive, FileTimesIn, Item, iso_time
from onemount.fakegraph.errors import FakeError, error_body, invalid_request, not_found
from onemount.fakegraph.faults import FaultMiddleware, Faults
from onemount.fakegraph.hardening import DrainedRequests
from onemount.fakegraph.notify import Notifications
from onemount.fakegraph.oauth import FakeAuthority
from onemount.fakegraph.origin import public_origin
from onemount.fakegraph.render import parse_select, render_item

_ITEM_PATH = re.compile(
    r"^/(?:root|items/(?P<id>[^/:]+))(?::(?P<path>[^:]*)(?::|$))?(?P<action>/[A-Za-z.]+)?/?$"
)
_SOCKET_IO = "/root/subscriptions/socketIo"
_DRIVE_PREFIX = re.compile(r"^/(?:me/drive|drives/(?P<drive>[^/]+))(?P<rest>/.*)?$")
_CHUNK = 1 << 20
_CONFLICTS: tuple[Conflict, ...] = ("fail", "replace", "rename")
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class _AnyPath(Convertor[str]):
    """Starlette's ``path`` convertor stops at a newline (``.`` in its pattern); Graph's
    paths are names, which may hold any character until the service refuses them."""

    regex = "[\\s\\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("graphpath", _AnyPath())


@dataclass
class FakeGraph:
    """One fake Graph service: a drive, its authority and its faults, and the ASGI app.

    ``public_url`` (``https://graph.microsoft.com``) is the origin written into links, for a
    fake behind a proxy that sends no ``X-Forwarded-*`` headers (:mod:`.origin`).
    """

    drive: FakeDrive
    authority: FakeAuthority
    faults: Faults
    public_url: str | None = None
    notifications: Notifications = field(init=False)

    def __post_init__(self) -> None:
        self.notifications = Notifications(self.drive)

    def asgi(self) -> Any:
        routes: list[BaseRoute] = [
            Route("/v1.0/{rest:graphpath}", self._graph, methods=_ALL_METHODS),
            Route("/dl/{token}", self._download, methods=["GET", "HEAD"]),
            Route("/up/{session}", self._upload_url, methods=_ALL_METHODS),
            WebSocketRoute("/socket.io/", self.notifications.socket),
            Mount("/_fake", routes=admin_routes(self)),
            *self.authority.routes,
        ]
        unrouted = {404: _unrouted, 405: _unrouted}
        app = DrainedRequests(Starlette(routes=routes, exception_handlers=unrouted))
        return FaultMiddleware(app, self.faults)

    # -- Graph -------------------------------------------------------------------------------

    async def _graph(self, request: Request) -> Response:
        try:
            if not self.authority.check_bearer(request.headers.get("authorization")):
                raise FakeError(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token has expired or is not yet valid.",
                    headers={
                        "WWW-Authenticate": 'Bearer realm="", authorization_uri='
                        '"https://login.microsoftonline.com/common/oauth2/authorize"'
                    },
                )
            return await self._route(request)
        except FakeError as error:
            return error_response(error, request)

    async def _route(self, request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        raw_path = raw.decode("latin-1").split("?", 1)[0].removeprefix("/v1.0")
        drive_match = _DRIVE_PREFIX.match(raw_path)
        if drive_match is None:
            raise FakeError(400, "invalidRequest", f"Unsupported resource {raw_path}")
        drive_id = drive_match.group("drive")
        if drive_id is not None and unquote(drive_id).lower() != self.drive.drive_id.lower():
            raise not_found("The drive does not exist")  # driveIds compare case-insensitively
        rest = drive_match.group("rest") or ""
        method = request.method
        if rest == _SOCKET_IO and method == "GET":
            return await self.notifications.subscribe(request, self._origin(request))
        if rest in ("", "/"):
            if method != "GET":
                raise _method_not_allowed()
            return self._json(self._drive_json(), request)
        match = _ITEM_PATH.match(rest)
        if match is None:
            raise FakeError(400, "invalidRequest", f"Unsupported resource {rest}")
        base_id = unquote(match.group("id")) if match.group("id") else self.drive.root_id
        segments = [s for s in unquote(match.group("path") or "").split("/") if s]
        action = (match.group("action") or "").lstrip("/")
        handler = {
            ("", "GET"): self._get_item,
            ("", "PATCH"): self._patch_item,
            ("", "DELETE"): self._delete_item,
            ("children", "GET"): self._list_children,
            ("children", "POST"): self._post_child,
            ("content", "GET"): self._get_content,
            ("content", "PUT"): self._put_content,
            ("createUploadSession", "POST"): self._create_session,
            ("delta", "GET"): self._delta,
        }.get((action, method))
        if handler is None:
            raise _method_not_allowed()
        return await handler(request, base_id, segments)

    def _drive_json(self) -> dict[str, Any]:
        quota = self.drive.quota()
        return {
            "id": self.drive.drive_id,
            "driveType": self.drive.options.mode,
            "owner": {"user": {"displayName": self.authority.user.name}},
            "quota": {
                "total": quota.total,
                "used": quota.used,
                "remaining": quota.remaining,
                "deleted": quota.deleted,
                "state": quota.state,
            },
        }

    async def _get_item(self, request: Request, base_id: str, segments: list[str]) -> Response:
        item = self.drive.resolve(base_id, segments)
        tag = request.headers.get("if-none-match")
        if tag is not None and item.tag_matches(tag):
            return Response(status_code=304, headers=_request_id())
        return self._item(item, request)

    async def _patch_item(self, request: Request, base_id: str, segments: list[str]) -> Response:
        item = self.drive.resolve(base_id, segments)
        body = await _json_body(request)
        parent = body.get("parentReference")
        parent_id = parent.get("id") if isinstance(parent, dict) else None
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise invalid_request("name must be a string")
        conflict = _conflict(body, request, default="fail")
        updated = self.drive.update(
            item.id,
            name=name,
            parent_id=parent_id,
            times=FileTimesIn.parse(body.get("fileSystemInfo")),
            if_match=request.headers.get("if-match"),
            conflict=conflict,
        )
        return self._item(updated, request)

    async def _delete_item(self, request: Request, base_id: str, segments: list[str]) -> Response:
        item = self.drive.resolve(base_id, segments)
        self.drive.delete(item.id, if_match=request.headers.get("if-match"))
        return Response(status_code=204, headers=_request_id())

    async def _list_children(self, request: Request, base_id: str, segments: list[str]) -> Response:
        folder = self.drive.resolve(base_id, segments)
        tag = request.headers.get("if-none-match")
        if tag is not None and folder.tag_matches(tag):  # (7, §1.3: item, children, content)
            return Response(status_code=304, headers=_request_id())
        query = dict(request.query_params)
        top = _positive(query.get("$top", query.get("top")), self.drive.options.children_page_size)
        after = _decode_skiptoken(query.get("$skiptoken"))
        items = self.drive.children(folder.id, after, top + 1)
        select = parse_select(query)
        data: dict[str, Any] = {
            "value": [self._render(i, request, select) for i in items[:top]],
        }
        if len(items) > top:
            last = items[top - 1]
            query["$skiptoken"] = _encode_skiptoken(last.name_key, last.id)
            data["@odata.nextLink"] = self._url(request, query)
        return self._json(data, request)

    async def _post_child(self, request: Request, base_id: str, segments: list[str]) -> Response:
        parent = self.drive.resolve(base_id, segments)
        body = await _json_body(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise invalid_request("name is required")
        if "folder" not in body:
            raise invalid_request("only folders can be created here; upload files with PUT")
        created = self.drive.create_folder(parent.id, name, _conflict(body, request, "fail"))
        return self._item(created, request, status=201)

    async def _get_content(self, request: Request, base_id: str, segments: list[str]) -> Response:
        item = self.drive.resolve(base_id, segments)
        if not item.is_file:
            raise invalid_request("Only files have content")
        tag = request.headers.get("if-none-match")
        if tag is not None and item.tag_matches(tag):
            return Response(status_code=304, headers=_request_id())
        location = f"{self._origin(request)}/dl/{self.drive.download_token(item)}"
        return Response(status_code=302, headers={"Location": location, **_request_id()})

    async def _put_content(self, request: Request, base_id: str, segments: list[str]) -> Response:
        data = await request.body()
        if len(data) > self.drive.options.simple_upload_limit:
            raise FakeError(413, "invalidRequest", "Use an upload session", "maxFileSizeExceeded")
        times = FileTimesIn()
        if_match = request.headers.get("if-match")
        if_none_match = request.headers.get("if-none-match")  # "*": only if absent (7)
        if segments:  # /items/{parent}:/{name}:/content creates or replaces by name
            parent = self.drive.resolve(base_id, segments[:-1])
            conflict = _conflict({}, request, default="replace")
            blob = self.drive.write_blob(data)
            item, created = self.drive.put_blob(
                parent.id,
                segments[-1],
                blob,
                conflict=conflict,
                times=times,
                if_match=if_match,
                if_none_match=if_none_match,
            )
        else:
            blob = self.drive.write_blob(data)
            item = self.drive.replace_content(
                base_id, blob, if_match=if_match, if_none_match=if_none_match, times=times
            )
            created = False
        return self._item(
            item, request, status=201 if created else self.drive.options.replace_status
        )

    async def _create_session(
        self, request: Request, base_id: str, segments: list[str]
    ) -> Response:
        body = await _json_body(request, allow_empty=True)
        spec = body.get("item") or {}
        if not isinstance(spec, dict):
            raise invalid_request("item must be an object")
        conflict = _conflict(spec, request, default="fail")
        file_size = spec.get("fileSize")
        common: dict[str, Any] = {
            "times": FileTimesIn.parse(spec.get("fileSystemInfo")),
            "if_match": request.headers.get("if-match"),
            "if_none_match": request.headers.get("if-none-match"),
            "file_size": file_size if isinstance(file_size, int) else None,
        }
        if segments:
            parent = self.drive.resolve(base_id, segments[:-1])
            name = segments[-1]
            if isinstance(spec.get("name"), str) and spec["name"] != name:
                raise invalid_request("item.name must match the name in the path")
            session = self.drive.create_session(
                parent_id=parent.id, name=name, conflict=conflict, **common
            )
        else:
            session = self.drive.create_session(item_id=self.drive.get(base_id).id, **common)
        return self._json(
            {
                "uploadUrl": f"{self._origin(request)}/up/{session.id}",
                "expirationDateTime": iso_time(session.expires),
                "nextExpectedRanges": ["0-"],
            },
            request,
        )

    async def _delta(self, request: Request, base_id: str, segments: list[str]) -> Response:
        folder = self.drive.resolve(base_id, segments)
        if folder.id != self.drive.root_id and self.drive.options.mode == "business":  # (20)
            raise FakeError(400, "notSupported", "view.delta can only be called on the root")
        if not folder.is_folder:
            raise invalid_request("delta is served on folders only")
        query = dict(request.query_params)
        top = _positive(query.get("$top", query.get("top")), self.drive.options.delta_page_size)
        try:  # personal drives serve delta on any folder (§2.1.5)
            page = self.drive.delta(
                query.get("token"), top, folder_id=folder.id, ancestors=not _exclude_parent(request)
            )
        except FakeError as error:
            if error.status == 410:
                fresh = {k: v for k, v in query.items() if k != "token"}
                error.headers["Location"] = self._url(request, fresh)
            raise
        select = parse_select(query)
        data: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(driveItem)",
            "value": [self._render(i, request, select, in_delta=True) for i in page.items],
        }
        link_query = {k: v for k, v in query.items() if k != "token"}
        token = page.next_token if page.next_token is not None else page.delta_token or ""
        link = "@odata.nextLink" if page.next_token is not None else "@odata.deltaLink"
        data[link] = self._url(request, {**link_query, "token": token})
        return self._json(data, request)

    # -- download and upload URLs ----------------------------------------------------------------

    async def _download(self, request: Request) -> Response:
        try:
            item, path = self.drive.open_download(request.path_params["token"])
            size = item.size
            first, last = _byte_range(request.headers.get("range"), size)
        except FakeError as error:
            return error_response(error, request)
        headers = {
            "ETag": item.ctag,
            "Accept-Ranges": "bytes",
            "Content-Type": item.mime or "application/octet-stream",
            "Content-Length": str(last - first + 1 if size else 0),
            **_request_id(),
        }
        status = 200
        if request.headers.get("range") is not None and size:
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        if request.method == "HEAD" or path is None or not size:
            return Response(status_code=status, headers=headers)
        return StreamingResponse(
            _stream(path, first, last + 1), status_code=status, headers=headers
        )

    async def _upload_url(self, request: Request) -> Response:
        try:
            if self.drive.options.strict_upload_auth and "authorization" in request.headers:
                raise FakeError(
                    401, "unauthenticated", "Upload URLs must not carry an Authorization header"
                )
            session_id = request.path_params["session"]
            if request.method == "GET":
                return self._json(self._session_status(session_id), request)
            if request.method == "DELETE":
                self.drive.cancel_session(session_id)
                return Response(status_code=204, headers=_request_id())
            if request.method != "PUT":
                raise _method_not_allowed()
            self.drive.session(session_id)  # 404 before reading a body for a lost session
            data = await request.body()
            session, item, created = self.drive.put_fragment(
                session_id, request.headers.get("content-range"), data
            )
            if item is not None:
                return self._item(item, request, status=201 if created else 200)
            return self._json(
                {
                    "expirationDateTime": iso_time(session.expires),
                    "nextExpectedRanges": [f"{session.received}-"],
                },
                request,
                status=202,
            )
        except FakeError as error:
            return error_response(error, request)

    def _session_status(self, session_id: str) -> dict[str, Any]:
        session = self.drive.session(session_id)
        return {
            "expirationDateTime": iso_time(session.expires),
            "nextExpectedRanges": [f"{session.received}-"],
        }

    # -- helpers -------------------------------------------------------------------------------

    def _render(
        self,
        item: Item,
        request: Request,
        select: frozenset[str] | None,
        *,
        in_delta: bool = False,
    ) -> dict[str, Any]:
        return render_item(
            self.drive, item, origin=self._origin(request), select=select, in_delta=in_delta
        )

    def _item(self, item: Item, request: Request, *, status: int = 200) -> Response:
        select = parse_select(dict(request.query_params))
        return self._json(self._render(item, request, select), request, status=status)

    def _json(self, data: Any, request: Request, *, status: int = 200) -> Response:
        return JSONResponse(data, status_code=status, headers=_request_id())

    def _origin(self, request: Request) -> str:
        return public_origin(request, self.public_url)

    def _url(self, request: Request, query: dict[str, str]) -> str:
        """An absolute link to this resource with ``query``, for nextLink, deltaLink and
        Location.

        The path is the request's raw one, still percent-encoded: the decoded path would turn
        a name's ``%41`` into ``A`` and cut the URL at a ``#``. Query keys keep their ``$`` the
        way Graph writes them (``$skiptoken=``, ``$select=``), so a client may look for them.
        """
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        return f"{self._origin(request)}{path}?{urlencode(query, safe='$')}"


def error_response(error: FakeError, request: Request) -> Response:
    """Graph's error body (39) for ``error``, echoing the caller's client-request-id."""
    body, request_id = error_body(
        error.code,
        error.message,
        {"code": error.inner} if error.inner else None,
        client_request_id=request.headers.get("client-request-id"),
    )
    headers = {"request-id": request_id, **error.headers}
    return JSONResponse(body, status_code=error.status, headers=headers)


async def _unrouted(request: Request, exc: Exception) -> Response:
    """What the router could not place: Graph's error shape, not starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    if status == 405:
        return error_response(_method_not_allowed(), request)
    return error_response(not_found(f"No such resource: {request.url.path}"), request)


def _request_id() -> dict[str, str]:
    return {"request-id": str(uuid.uuid4())}


def _exclude_parent(request: Request) -> bool:
    """The ``deltaExcludeParent`` request header (Graph's delta docs), or the same word as a
    ``Prefer`` token, which clients send too: no ancestors in the feed (graph-api.md §2.2)."""
    prefer = request.headers.get("prefer", "").lower()
    return "deltaexcludeparent" in request.headers or "deltaexcludeparent" in prefer


def _method_not_allowed() -> FakeError:
    """405 in Graph's error shape, like every other error (39)."""
    return FakeError(405, "invalidRequest", "Method not allowed")


async def _json_body(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw and allow_empty:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid_request("The request body is not JSON") from None
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object")
    return body


def _conflict(body: dict[str, Any], request: Request, default: Conflict) -> Conflict:
    """``@microsoft.graph.conflictBehavior`` from the body or the query (and the legacy key)."""
    value = (
        body.get("@microsoft.graph.conflictBehavior")
        or body.get("@name.conflictBehavior")
        or request.query_params.get("@microsoft.graph.conflictBehavior")
        or default
    )
    for known in _CONFLICTS:
        if value == known:
            return known
    raise invalid_request(f"conflictBehavior {value!r} is not fail, replace or rename")


def _positive(value: str | None, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        raise invalid_request(f"$top must be a positive integer, not {value!r}")
    return min(int(value), 1000)


def _encode_skiptoken(key: str, item_id: str) -> str:
    return json.dumps([key, item_id]).encode().hex()


def _decode_skiptoken(token: str | None) -> tuple[str, str] | None:
    if token is None:
        return None
    try:
        key, item_id = json.loads(bytes.fromhex(token))
        return str(key), str(item_id)
    except (ValueError, TypeError):
        raise invalid_request("Invalid $skiptoken") from None


def _byte_range(header: str | None, size: int) -> tuple[int, int]:
    """(first, last) of ``Range: bytes=a-b`` / ``a-`` / ``-n``; 416 when unsatisfiable (22)."""
    if header is None:
        return 0, max(0, size - 1)
    unit, _, spec = header.partition("=")
    first_s, _, last_s = spec.strip().partition("-")
    try:
        if unit.strip().lower() != "bytes" or "," in spec:
            raise ValueError(header)
        if first_s == "":
            first, last = max(0, size - int(last_s)), size - 1
        else:
            first = int(first_s)
            last = min(int(last_s), size - 1) if last_s else size - 1
    except ValueError:
        first, last = size, size  # unparseable: treated as unsatisfiable
    if first >= size or first > last:
        raise FakeError(
            416,
            "invalidRange",
            "The requested range is not satisfiable",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last


async def _stream(path: Path, start: int, stop: int) -> AsyncIterator[bytes]:
    """The file's bytes in [start, stop): read on the loop (page cache reads are microseconds)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        offset = start
        while offset < stop:
            chunk = os.pread(fd, min(_CHUNK, stop - offset), offset)
            if not chunk:
                break
            offset += len(chunk)
            yield chunk  # the response awaits each send: the loop is yielded to there
    finally:
        os.close(fd)
