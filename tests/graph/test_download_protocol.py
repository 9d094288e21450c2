"""Download details no server reveals: the redirect drops the token; a bad hash leaves nothing.

Resuming after a dropped connection needs a real socket and is tested against the fake in
test_faults.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from onemount.graph import Downloaded, HashMismatch
from onemount.quickxorhash import quickxorhash_b64
from tests.graph.scripted import Answer, ScriptedApp, Seen, client_for

CONTENT = os.urandom(3 * 1024 * 1024 + 17)
DOWNLOAD_URL = "http://download.test/dl/signed-token"


def redirect(seen: Seen) -> Answer:
    return Answer(302, None, {"Location": DOWNLOAD_URL})


def fetch(tmp_path: Path, expected: str | None) -> tuple[ScriptedApp, Downloaded]:
    app = ScriptedApp(redirect, Answer(200, raw=CONTENT, headers={"etag": '"v1"'}))
    dest = tmp_path / "file.bin"

    async def main() -> Downloaded:
        async with client_for(app) as graph:
            return await graph.download("ITEM!1", dest, expected_hash=expected)

    return app, trio.run(main)


def test_the_redirect_is_followed_without_the_token(tmp_path: Path) -> None:
    app, done = fetch(tmp_path, quickxorhash_b64(CONTENT))
    content_request, download_request = app.seen
    assert content_request.path == "/v1.0/me/drive/items/ITEM!1/content"
    assert "authorization" in content_request.headers
    assert "authorization" not in download_request.headers  # another origin
    assert done.path.read_bytes() == CONTENT and done.size == len(CONTENT)
    assert done.quick_xor_hash == quickxorhash_b64(CONTENT)
    assert os.listdir(tmp_path) == ["file.bin"]  # no temporary file left beside it


def test_a_wrong_hash_leaves_no_file_at_all(tmp_path: Path) -> None:
    with pytest.raises(HashMismatch) as caught:
        fetch(tmp_path, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert caught.value.actual == quickxorhash_b64(CONTENT)
    assert os.listdir(tmp_path) == []


def test_an_existing_file_is_replaced_only_by_verified_bytes(tmp_path: Path) -> None:
    (tmp_path / "file.bin").write_bytes(b"old version")
    with pytest.raises(HashMismatch):
        fetch(tmp_path, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert (tmp_path / "file.bin").read_bytes() == b"old version"
    _, done = fetch(tmp_path, None)  # no hash known yet: accepted, and the hash reported
    assert done.path.read_bytes() == CONTENT
