"""Raw-HTTP helpers for testing the fake Graph itself against graph-api.md.

These tests talk to the fake with plain ``httpx`` and never with ``onemount.graph``: they pin
what a Graph user observes on the wire (statuses, headers, JSON shapes), independently of our
client, so a client bug cannot hide a fake bug or the other way round. Checklist numbers in the
tests refer to "Behaviours a faithful fake must reproduce" in graph-api.md.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx
import pytest

from onemount.fakegraph import DriveOptions, FakeDrive
from onemount.fakegraph.drive import Mode
from tests.graph.fake import RunningFake, running_fake

MODES = ("personal", "business")
UNIT = 320 * 1024  # the upload-session fragment unit, 327,680 bytes
DELTA = "/me/drive/root/delta"
ZERO_QXH = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")  # (45)
_ERROR_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
DOWNLOAD_URL = "@microsoft.graph.downloadUrl"
CONFLICT = "@microsoft.graph.conflictBehavior"


def path_url(*names: str, action: str = "") -> str:
    """``/me/drive/root:/a/b:`` plus ``action``, each segment percent-encoded alone (§8)."""
    return f"/me/drive/root:/{'/'.join(quote(n, safe='') for n in names)}:{action}"


def item_url(item_id: str, action: str = "") -> str:
    return f"/me/drive/items/{item_id}{action}"


def child_url(parent_id: str, name: str, action: str = "") -> str:
    """``/me/drive/items/{parent}:/{name}:`` plus ``action`` (create-by-name addressing)."""
    return f"/me/drive/items/{parent_id}:/{quote(name, safe='')}:{action}"


def error_codes(body: dict[str, Any]) -> list[str]:
    """The codes of the error chain, outermost first (``error.code``, ``innerError.code``...)."""
    codes: list[str] = []
    node: Any = body.get("error")
    while isinstance(node, dict):
        if isinstance(node.get("code"), str):
            codes.append(node["code"])
        node = node.get("innerError")
    return codes


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, inner: str | None = None
) -> dict[str, Any]:
    """Graph's error contract (39): status, code (any, when the documents name none), message,
    innerError with date and request ids, and the request-id header."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert code is None or error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"]
    details = error["innerError"]
    assert _ERROR_DATE.match(details["date"]), details
    assert details["request-id"] == response.headers["request-id"]
    assert details["client-request-id"]
    if inner is not None:
        assert inner in error_codes(body)[1:], body
    return body


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON of a successful answer, after checking its status and request-id (39)."""
    assert response.status_code == status, response.text
    assert response.headers.get("request-id")
    data: dict[str, Any] = response.json()
    return data


def without_url(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` less its downloadUrl, which is minted afresh (with its expiry) per answer."""
    return {key: value for key, value in item.items() if key != DOWNLOAD_URL}


@dataclass(frozen=True)
class Feed:
    """Every page of one delta walk, from the first request to the deltaLink."""

    pages: list[dict[str, Any]]

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [entry for page in self.pages for entry in page["value"]]

    @property
    def ids(self) -> list[str]:
        return [entry["id"] for entry in self.entries]

    @property
    def delta_link(self) -> str:
        link: str = self.pages[-1]["@odata.deltaLink"]
        return link

    def last(self, item_id: str) -> dict[str, Any]:
        """The last occurrence of ``item_id`` ("last one wins", 14)."""
        return [entry for entry in self.entries if entry["id"] == item_id][-1]


@dataclass
class Api:
    """A running fake plus two clients: ``http`` sends the bearer token, ``bare`` sends none
    (what download and upload URLs, and the admin routes, expect)."""

    fake: RunningFake
    http: httpx.Client
    bare: httpx.Client

    @property
    def drive(self) -> FakeDrive:
        return self.fake.drive

    @property
    def options(self) -> DriveOptions:
        return self.fake.drive.options

    @property
    def mode(self) -> str:
        return self.fake.drive.options.mode

    @property
    def root_id(self) -> str:
        return self.fake.drive.root_id

    def item(self, item_id: str) -> dict[str, Any]:
        return ok(self.http.get(item_url(item_id)))

    def mkdir(
        self, name: str, parent: str | None = None, conflict: str | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"name": name, "folder": {}}
        if conflict is not None:
            body[CONFLICT] = conflict
        return self.http.post(item_url(parent or self.root_id, "/children"), json=body)

    def folder(self, name: str, parent: str | None = None) -> dict[str, Any]:
        return ok(self.mkdir(name, parent), 201)

    def put(
        self, name: str, data: bytes = b"", parent: str | None = None, **params: str
    ) -> httpx.Response:
        """Simple upload by name into ``parent`` (the root by default)."""
        url = child_url(parent or self.root_id, name, "/content")
        return self.http.put(url, content=data, params=params)

    def file(self, name: str, data: bytes = b"", parent: str | None = None) -> dict[str, Any]:
        return ok(self.put(name, data, parent), 201)

    def patch(self, item_id: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.patch(item_url(item_id), json=body, headers=headers)

    def download(self, item_id: str) -> bytes:
        response = self.http.get(item_url(item_id, "/content"), follow_redirects=True)
        assert response.status_code == 200, response.text
        return response.content

    def quota(self) -> dict[str, Any]:
        quota: dict[str, Any] = ok(self.http.get("/me/drive"))["quota"]
        return quota

    def walk(self, url: str = DELTA, **params: str) -> Feed:
        """Follow nextLinks from ``url`` until the page that carries the deltaLink (10)."""
        # httpx replaces a URL's query with ``params`` even when they are empty.
        pages = [ok(self.http.get(url, params=params or None))]
        while "@odata.nextLink" in pages[-1]:
            assert "@odata.deltaLink" not in pages[-1]
            pages.append(ok(self.http.get(pages[-1]["@odata.nextLink"])))
        assert "@odata.deltaLink" in pages[-1]
        return Feed(pages)

    def cursor(self, **params: str) -> str:
        """A deltaLink for "now", from ``token=latest`` (11)."""
        link: str = ok(self.http.get(DELTA, params={"token": "latest", **params}))[
            "@odata.deltaLink"
        ]
        return link

    def session(
        self, name: str, parent: str | None = None, item: dict[str, Any] | None = None
    ) -> httpx.Response:
        """``createUploadSession`` for ``name`` in ``parent``, with ``item`` as the body's item."""
        url = child_url(parent or self.root_id, name, "/createUploadSession")
        return self.http.post(url, json={"item": item or {}})

    def upload_url(self, name: str, parent: str | None = None, /, **item: Any) -> str:
        """A session's uploadUrl; ``item`` is the body's item (``name`` may be among it)."""
        url: str = ok(self.session(name, parent, item))["uploadUrl"]
        return url

    def fragment(self, upload_url: str, data: bytes, start: int, total: int) -> httpx.Response:
        """PUT ``data`` at ``start`` of ``total`` to an upload URL, without Authorization."""
        content_range = f"bytes {start}-{start + len(data) - 1}/{total}"
        return self.bare.put(upload_url, content=data, headers={"Content-Range": content_range})

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.bare.request(method, f"{self.fake.origin}/_fake{path}", **kwargs)


# The drive is SQLite plus blob files; on this disk creating them costs ~40 ms a drive, on
# tmpfs ~2 ms. Every test gets a fresh drive, so they go to tmpfs when there is one.
_FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def open_api(
    mode: str = "personal",
    *,
    seed: str = "empty",
    data_dir: Path | None = None,
    **options: Any,
) -> Iterator[Api]:
    """A fresh fake in ``mode`` with ``options``, and clients for it."""
    drive_options = DriveOptions(mode=cast("Mode", mode), **options)
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            scratch = tempfile.TemporaryDirectory(prefix="fakegraph-", dir=_FAST_TMP)
            data_dir = Path(stack.enter_context(scratch))
        fake = stack.enter_context(running_fake(drive_options, seed=seed, data_dir=data_dir))
        # verify=False: plain http on loopback, and it spares each client building an SSL
        # context with the CA bundle (~30 ms, paid twice by every test otherwise). The clients
        # close before the server stops, or its graceful shutdown waits for their idle
        # keep-alive connections.
        auth = {"Authorization": f"Bearer {fake.token}"}
        http = stack.enter_context(httpx.Client(base_url=fake.base_url, headers=auth, verify=False))
        yield Api(fake, http, stack.enter_context(httpx.Client(verify=False)))


@pytest.fixture
def api() -> Iterator[Api]:
    """A fresh, empty personal drive."""
    with open_api() as opened:
        yield opened


@pytest.fixture(params=MODES)
def mode_api(request: pytest.FixtureRequest) -> Iterator[Api]:
    """A fresh, empty drive in each mode, for behaviours that differ (or must not) by mode."""
    with open_api(request.param) as opened:
        yield opened
