"""Admin routes under ``/_fake`` (never under Graph's paths): tests and tools act through them
as "another device", expire delta cursors, inject faults and read the request log.

They need no token: the fake listens on loopback only and exists for tests. In-process tests
call the same :class:`~onemount.fakegraph.drive.FakeDrive` methods directly instead.

==========================  ======================================================================
``GET /_fake/state``        drive id, root id, mode, options, change sequence
``POST /_fake/options``     change options (``{"shuffle_delta": true, ...}``)
``POST /_fake/token``       a fresh access token (``{"access_token": ..., "expires_in": ...}``)
``POST /_fake/items``       create: ``{"parent": id | "path": "/a/b", "name", "folder": bool,
                            "text" | "content_b64"}``
``PATCH /_fake/items/{id}`` edit: ``{"name", "parent", "text" | "content_b64"}``
``DELETE /_fake/items/{id}`` delete (a folder with everything in it)
``POST /_fake/expire-delta`` every delta token issued so far answers 410
``POST /_fake/populate``    ``{"count": N}`` empty files in folders, for big-drive tests
``GET|POST|DELETE /_fake/faults``  list, add (a FaultRule as JSON) or clear fault rules
``GET|DELETE /_fake/requests``     the request log (server monotonic times), or clear it
==========================  ======================================================================
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from onemount.fakegraph.drive import Item
from onemount.fakegraph.errors import FakeError, invalid_request
from onemount.fakegraph.faults import FaultRule

if TYPE_CHECKING:
    from onemount.fakegraph.app import FakeGraph


def admin_routes(fake: FakeGraph) -> list[Route]:
    drive = fake.drive

    async def state(request: Request) -> Response:
        return JSONResponse(
            {
                "drive_id": drive.drive_id,
                "root_id": drive.root_id,
                "mode": drive.options.mode,
                "options": asdict(drive.options),
            }
        )

    async def options(request: Request) -> Response:
        body = await _body(request)
        try:
            drive.options.update(body)
        except KeyError as exc:
            raise invalid_request(str(exc)) from None
        return JSONResponse(asdict(drive.options))

    async def token(request: Request) -> Response:
        ttl = fake.authority.access_ttl
        return JSONResponse(
            {"access_token": fake.authority.issue_static_token(), "expires_in": ttl}
        )

    async def create(request: Request) -> Response:
        body = await _body(request)
        parent = _parent(fake, body)
        name = body.get("name")
        if not isinstance(name, str):
            raise invalid_request("name is required")
        if body.get("folder"):
            item = drive.create_folder(parent, name)
        else:
            item, _ = drive.put_bytes(parent, name, _content(body) or b"")
        return JSONResponse(_summary(item), status_code=201)

    async def edit(request: Request) -> Response:
        item_id = request.path_params["item_id"]
        body = await _body(request)
        content = _content(body)
        if content is not None:
            drive.replace_content(item_id, drive.write_blob(content), if_match=None)
        if "name" in body or "parent" in body:
            drive.update(item_id, name=body.get("name"), parent_id=body.get("parent"))
        return JSONResponse(_summary(drive.get(item_id)))

    async def remove(request: Request) -> Response:
        drive.delete(request.path_params["item_id"])
        return Response(status_code=204)

    async def expire_delta(request: Request) -> Response:
        drive.expire_delta_tokens()
        return Response(status_code=204)

    async def populate(request: Request) -> Response:
        body = await _body(request)
        count = body.get("count")
        if not isinstance(count, int) or count < 1:
            raise invalid_request("count must be a positive integer")
        return JSONResponse({"added": drive.populate(count)})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            known = {f.name for f in fields(FaultRule)} - {"id", "hits"}
            try:
                rule = fake.faults.add(FaultRule(**{k: v for k, v in body.items() if k in known}))
            except (TypeError, ValueError) as exc:
                raise invalid_request(str(exc)) from None
            return JSONResponse(asdict(rule), status_code=201)
        if request.method == "DELETE":
            fake.faults.clear()
            return Response(status_code=204)
        return JSONResponse(fake.faults.describe())

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            fake.faults.clear_log()
            return Response(status_code=204)
        return JSONResponse([asdict(entry) for entry in fake.faults.requests()])

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request)
                return response
            except FakeError as error:
                body = {"error": {"code": error.code, "message": error.message}}
                return JSONResponse(body, status_code=error.status)

        return run

    table = [
        ("/state", state, ["GET"]),
        ("/options", options, ["POST"]),
        ("/token", token, ["POST"]),
        ("/items", create, ["POST"]),
        ("/items/{item_id}", edit, ["PATCH"]),
        ("/items/{item_id}", remove, ["DELETE"]),
        ("/expire-delta", expire_delta, ["POST"]),
        ("/populate", populate, ["POST"]),
        ("/faults", faults, ["GET", "POST", "DELETE"]),
        ("/requests", requests, ["GET", "DELETE"]),
    ]
    return [Route(path, guarded(handler), methods=methods) for path, handler, methods in table]


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise invalid_request("the body is not JSON") from None
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object")
    return body


def _parent(fake: FakeGraph, body: dict[str, Any]) -> str:
    if isinstance(body.get("parent"), str):
        return str(body["parent"])
    path = body.get("path", "/")
    if not isinstance(path, str):
        raise invalid_request("path must be a string")
    segments = [s for s in path.split("/") if s]
    return fake.drive.resolve(fake.drive.root_id, segments).id


def _content(body: dict[str, Any]) -> bytes | None:
    if isinstance(body.get("text"), str):
        return str(body["text"]).encode()
    if isinstance(body.get("content_b64"), str):
        try:
            return base64.b64decode(body["content_b64"], validate=True)
        except binascii.Error:
            raise invalid_request("content_b64 is not base64") from None
    return None


def _summary(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "parent": item.parent_id,
        "size": item.size,
        "eTag": item.etag,
        "cTag": item.ctag,
        "quickXorHash": item.qxh,
    }
