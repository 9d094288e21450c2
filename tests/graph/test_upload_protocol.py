"""What the uploader puts on the wire, answer by answer, against a scripted app.

The behaviour of a real session (bytes stored, hashes, conflicts with other devices) is tested
against the fake in test_faults.py and tests/contract; these tests pin the protocol details that
no server would reveal: the conflict parameters, the headers, the fragment arithmetic, what is
asked after a 416 or a 404, and what is kept in the session store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from onemount.graph import (
    DriveItem,
    FileTimes,
    GraphClient,
    JsonSessionStore,
    NameConflict,
    NewItem,
    PreconditionFailed,
    Replace,
    SessionRecord,
)
from tests.graph.scripted import Answer, ScriptedApp, Seen, client_for

UNIT = 320 * 1024
UPLOAD_URL = "http://up.test/session/1"


def item(size: int) -> dict[str, Any]:
    return {"id": "NEW", "name": "big.bin", "size": size, "file": {"hashes": {"quickXorHash": "x"}}}


def upload(
    app: ScriptedApp, action: Callable[[GraphClient], Awaitable[DriveItem]], **config: Any
) -> DriveItem:
    async def main() -> DriveItem:
        async with client_for(app, **config) as graph:
            return await action(graph)

    return trio.run(main)


class Session:
    """Answers fragments the way a session does: 202 with the next range, then the item."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.stored = 0

    def fragment(self, seen: Seen) -> Answer:
        span = seen.headers["content-range"].removeprefix("bytes ")
        first, _, rest = span.partition("-")
        last, _, total = rest.partition("/")
        assert int(total) == self.size and int(first) == self.stored
        assert int(last) - int(first) + 1 == len(seen.body)
        self.stored = int(last) + 1
        if self.stored == self.size:
            return Answer(201, item(self.size))
        return Answer(202, {"nextExpectedRanges": [f"{self.stored}-"]})

    def status(self, seen: Seen) -> Answer:
        assert seen.method == "GET"
        return Answer(200, {"nextExpectedRanges": [f"{self.stored}-"]})


def created(url: str = UPLOAD_URL) -> Answer:
    return Answer(200, {"uploadUrl": url, "nextExpectedRanges": ["0-"]})


def test_a_small_new_file_is_one_put_that_fails_on_an_existing_name(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"hello")
    app = ScriptedApp(Answer(201, {"id": "A", "name": "a txt#1.md", "file": {}}))
    upload(app, lambda g: g.upload(source, NewItem("PARENT", "a txt#1.md")))
    (seen,) = app.seen
    assert seen.method == "PUT" and seen.body == b"hello"
    # The name is one percent-encoded segment: its '#' is not a fragment, its space no separator.
    assert seen.raw_path == "/v1.0/me/drive/items/PARENT:/a%20txt%231.md:/content"
    assert seen.query == "%40microsoft.graph.conflictBehavior=fail"


def test_a_replace_carries_if_match_and_a_stale_tag_is_a_typed_error(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"new")
    app = ScriptedApp(Answer(412, {"error": {"code": "resourceModified"}}))
    with pytest.raises(PreconditionFailed):
        upload(app, lambda g: g.upload(source, Replace("ITEM", '"{E},3"')))
    (seen,) = app.seen
    assert seen.path == "/v1.0/me/drive/items/ITEM/content"
    assert seen.headers["if-match"] == '"{E},3"'


def test_an_empty_file_is_always_a_simple_put(tmp_path: Path) -> None:
    source = tmp_path / "empty"
    source.touch()
    app = ScriptedApp(Answer(201, {"id": "E", "name": "empty", "file": {}, "size": 0}))
    upload(app, lambda g: g.upload(source, NewItem("P", "empty")), simple_upload_limit=0)
    assert app.seen[0].method == "PUT" and app.seen[0].body == b""


def test_a_session_sends_times_at_creation_and_aligned_fragments_without_auth(
    tmp_path: Path,
) -> None:
    size = 2 * UNIT + 1000
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    session = Session(size)
    app = ScriptedApp(created(), *[session.fragment] * 3)
    mtime = datetime(2024, 5, 2, 10, 11, 10, tzinfo=UTC)
    done = upload(
        app,
        lambda g: g.upload(source, NewItem("P", "big.bin"), times=FileTimes(modified=mtime)),
        fragment_size=UNIT,
        simple_upload_limit=0,
    )
    assert done.size == size
    create, *fragments = app.seen
    assert create.path == "/v1.0/me/drive/items/P:/big.bin:/createUploadSession"
    assert json.loads(create.body) == {
        "item": {
            "@microsoft.graph.conflictBehavior": "fail",
            "name": "big.bin",
            "fileSystemInfo": {"lastModifiedDateTime": "2024-05-02T10:11:10Z"},
        }
    }
    assert [len(f.body) for f in fragments] == [UNIT, UNIT, 1000]
    assert all("authorization" not in f.headers for f in fragments)
    assert b"".join(f.body for f in fragments) == source.read_bytes()


def test_a_replace_session_carries_if_match(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(UNIT + 5))
    app = ScriptedApp(Answer(412, {"error": {"code": "notAllowed"}}))
    with pytest.raises(PreconditionFailed):
        upload(
            app,
            lambda g: g.upload(source, Replace("ITEM", "etag-1")),
            fragment_size=UNIT,
            simple_upload_limit=0,
        )
    (create,) = app.seen
    assert create.path == "/v1.0/me/drive/items/ITEM/createUploadSession"
    assert create.headers["if-match"] == "etag-1"
    assert json.loads(create.body)["item"]["@microsoft.graph.conflictBehavior"] == "replace"


def test_a_416_realigns_on_the_session_status(tmp_path: Path) -> None:
    size = 3 * UNIT
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    session = Session(size)

    def landed_anyway(seen: Seen) -> Answer:
        # The first fragment was stored but its answer was a 416 (e.g. a replayed fragment).
        session.fragment(seen)
        return Answer(
            416, {"error": {"code": "invalidRange", "innererror": {"code": "fragmentOverlap"}}}
        )

    app = ScriptedApp(created(), landed_anyway, session.status, session.fragment, session.fragment)
    upload(
        app,
        lambda g: g.upload(source, NewItem("P", "big.bin")),
        fragment_size=UNIT,
        simple_upload_limit=0,
    )
    methods = [(s.method, s.headers.get("content-range")) for s in app.seen[1:]]
    assert methods == [
        ("PUT", f"bytes 0-{UNIT - 1}/{size}"),
        ("GET", None),
        ("PUT", f"bytes {UNIT}-{2 * UNIT - 1}/{size}"),
        ("PUT", f"bytes {2 * UNIT}-{size - 1}/{size}"),
    ]


def test_a_lost_session_is_replaced_and_the_record_follows(tmp_path: Path) -> None:
    size = 2 * UNIT
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    store = JsonSessionStore(tmp_path / "sessions.json")
    second = Session(size)
    lost = Answer(404, {"error": {"code": "itemNotFound"}})
    app = ScriptedApp(
        created("http://up.test/s/1"),
        lost,
        created("http://up.test/s/2"),
        second.fragment,
        second.fragment,
    )
    upload(
        app,
        lambda g: g.upload(source, NewItem("P", "big.bin"), sessions=store, key="k"),
        fragment_size=UNIT,
        simple_upload_limit=0,
    )
    assert [s.path for s in app.seen] == [
        "/v1.0/me/drive/items/P:/big.bin:/createUploadSession",
        "/s/1",
        "/v1.0/me/drive/items/P:/big.bin:/createUploadSession",
        "/s/2",
        "/s/2",
    ]
    assert trio.run(store.load, "k") is None  # cleared once the item exists


def test_a_recorded_session_is_resumed_from_the_server_status(tmp_path: Path) -> None:
    size = 3 * UNIT
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    store = JsonSessionStore(tmp_path / "sessions.json")
    stat = source.stat()
    record = SessionRecord(
        UPLOAD_URL, NewItem("P", "big.bin").describe(), size, stat.st_mtime_ns, UNIT
    )
    trio.run(store.save, "k", record)
    session = Session(size)
    session.stored = 2 * UNIT  # the server got further than the record says
    app = ScriptedApp(session.status, session.fragment)
    upload(
        app,
        lambda g: g.upload(source, NewItem("P", "big.bin"), sessions=store, key="k"),
        fragment_size=UNIT,
        simple_upload_limit=0,
    )
    assert [(s.method, s.headers.get("content-range")) for s in app.seen] == [
        ("GET", None),
        ("PUT", f"bytes {2 * UNIT}-{size - 1}/{size}"),
    ]
    assert (tmp_path / "sessions.json").stat().st_mode & 0o777 == 0o600


def test_a_record_for_other_bytes_is_not_resumed(tmp_path: Path) -> None:
    size = UNIT + 1
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    store = JsonSessionStore(tmp_path / "sessions.json")
    stale = SessionRecord("http://up.test/old", NewItem("P", "big.bin").describe(), size, 1, 0)
    trio.run(store.save, "k", stale)
    session = Session(size)
    app = ScriptedApp(created(), session.fragment, session.fragment)
    upload(
        app,
        lambda g: g.upload(source, NewItem("P", "big.bin"), sessions=store, key="k"),
        fragment_size=UNIT,
        simple_upload_limit=0,
    )
    assert "createUploadSession" in app.seen[0].path


def test_a_name_taken_at_commit_cancels_the_session_and_forgets_it(tmp_path: Path) -> None:
    size = UNIT + 10
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))
    store = JsonSessionStore(tmp_path / "sessions.json")
    session = Session(size)

    def taken(seen: Seen) -> Answer:
        return Answer(409, {"error": {"code": "nameAlreadyExists"}})

    app = ScriptedApp(created(), session.fragment, taken, Answer(204))
    with pytest.raises(NameConflict):
        upload(
            app,
            lambda g: g.upload(source, NewItem("P", "big.bin"), sessions=store, key="k"),
            fragment_size=UNIT,
            simple_upload_limit=0,
        )
    assert (app.seen[-1].method, app.seen[-1].path) == ("DELETE", "/session/1")
    assert trio.run(store.load, "k") is None
