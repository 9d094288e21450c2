"""Downloads, simple uploads and upload sessions (checklist 21-33)."""

from __future__ import annotations

import os
import random
import time
from datetime import datetime

import pytest

from onemount.quickxorhash import quickxorhash_b64
from tests.fakegraph.conftest import (
    CONFLICT,
    DOWNLOAD_URL,
    ISO_Z,
    UNIT,
    Api,
    assert_error,
    child_url,
    item_url,
    ok,
    open_api,
)

_DATA = random.Random(1000).randbytes(1000)  # fixed bytes: a failure replays alike


def test_content_redirects_to_a_url_that_needs_no_token(mode_api: Api) -> None:
    """``GET /content``: 302 to ``http://127.0.0.1:<port>/dl/...``, served without
    Authorization; the item's downloadUrl serves the same bytes (21, 23)."""
    file = mode_api.file("f.bin", _DATA)
    response = mode_api.http.get(item_url(file["id"], "/content"))
    assert response.status_code == 302 and response.headers["request-id"]
    location = response.headers["Location"]
    assert location.startswith(f"{mode_api.fake.origin}/dl/")
    served = mode_api.bare.get(location)
    assert served.status_code == 200 and served.content == _DATA
    assert served.headers["Content-Length"] == str(len(_DATA))
    assert "authorization" not in served.request.headers
    assert mode_api.bare.get(file[DOWNLOAD_URL]).content == _DATA
    by_path = mode_api.http.get("/me/drive/root:/F.BIN:/content")
    assert by_path.status_code == 302


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-0", 0, 0), ("bytes=10-19", 10, 19), ("bytes=990-", 990, 999),
     ("bytes=-5", 995, 999), ("bytes=900-5000", 900, 999)],
)  # fmt: skip
def test_a_range_gives_206_with_content_range(api: Api, header: str, first: int, last: int) -> None:
    """``Range`` on the download URL: 206, ``Content-Range: bytes a-b/total``, those bytes
    (22); the same Range sent to ``/content`` is honoured after the redirect."""
    file = api.file("f.bin", _DATA)
    direct = api.bare.get(file[DOWNLOAD_URL], headers={"Range": header})
    redirected = api.http.get(
        item_url(file["id"], "/content"), headers={"Range": header}, follow_redirects=True
    )
    for response in (direct, redirected):
        assert response.status_code == 206, response.text
        assert response.headers["Content-Range"] == f"bytes {first}-{last}/1000"
        assert response.content == _DATA[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=20-10"])
def test_an_unsatisfiable_range_is_416(api: Api, header: str) -> None:
    """A range outside the file cannot be produced: 416 (22)."""
    file = api.file("f.bin", _DATA)
    assert_error(api.bare.get(file[DOWNLOAD_URL], headers={"Range": header}), 416, "invalidRange")


def test_a_download_url_expires(api: Api) -> None:
    """A download URL stops working after its TTL (21)."""
    file = api.file("f.bin", _DATA)
    api.options.download_ttl = -1  # every URL handed out from now on is already past its TTL
    expired = api.item(file["id"])[DOWNLOAD_URL]
    response = api.bare.get(expired)
    assert response.status_code == 401 and response.content != _DATA
    assert api.bare.get(file[DOWNLOAD_URL]).content == _DATA  # one from before still works


def test_a_simple_put_creates_with_201_and_replaces_with_200(mode_api: Api) -> None:
    """PUT by name: 201 and the item when new, 200 (same id) when it replaces (24)."""
    created = ok(mode_api.put("r.txt", b"first"), 201)
    assert (created["name"], created["size"]) == ("r.txt", 5)
    assert created["file"]["hashes"]["quickXorHash"] == quickxorhash_b64(b"first")
    replaced = ok(mode_api.put("R.TXT", b"second!"), 200)
    assert replaced["id"] == created["id"] and replaced["name"] == "r.txt"
    assert replaced["size"] == 7 and mode_api.download(created["id"]) == b"second!"
    by_id = ok(mode_api.http.put(item_url(created["id"], "/content"), content=b"3"), 200)
    assert by_id["id"] == created["id"] and by_id["size"] == 1
    by_path = ok(mode_api.http.put("/me/drive/root:/new.txt:/content", content=b"p"), 201)
    assert by_path["parentReference"]["id"] == mode_api.root_id


def test_the_replace_status_is_configurable(api: Api) -> None:
    """The docs show 201 for a replace too; an option answers that (24)."""
    api.options.replace_status = 201
    first = api.file("r.txt", b"1")
    assert ok(api.put("r.txt", b"2"), 201)["id"] == first["id"]


def test_simple_put_conflict_behaviours(api: Api) -> None:
    """Default ``replace``; ``fail``: 409 nameAlreadyExists; ``rename``: "name 1.ext" (24)."""
    original = api.file("report.txt", b"original")
    assert_error(api.put("report.txt", b"x", **{CONFLICT: "fail"}), 409, "nameAlreadyExists")
    assert api.download(original["id"]) == b"original"
    renamed = [ok(api.put("report.txt", b"r", **{CONFLICT: "rename"}), 201) for _ in range(2)]
    assert [item["name"] for item in renamed] == ["report 1.txt", "report 2.txt"]
    api.file("README", b"r")
    assert ok(api.put("README", b"r", **{CONFLICT: "rename"}), 201)["name"] == "README 1"
    assert ok(api.put("report.txt", b"replaced", **{CONFLICT: "replace"}), 200)


def test_a_simple_put_over_the_limit_is_413(api: Api) -> None:
    """Simple upload takes up to 4 MiB by default; more is 413 (25)."""
    limit = 4 << 20
    assert ok(api.put("at-limit.bin", b"\0" * limit), 201)["size"] == limit
    assert_error(api.put("over.bin", b"\0" * (limit + 1)), 413, "invalidRequest")
    api.options.simple_upload_limit = 10
    assert_error(api.put("small.bin", b"\0" * 11), 413, "invalidRequest")
    assert api.drive.child(api.root_id, "over.bin") is None


def test_create_upload_session_answers_its_url_and_first_range(mode_api: Api) -> None:
    """createUploadSession: 200 with uploadUrl, expirationDateTime and ``["0-"]`` (26)."""
    session = ok(mode_api.session("big.bin"))
    assert session["uploadUrl"].startswith(f"{mode_api.fake.origin}/")
    assert ISO_Z.match(session["expirationDateTime"])
    assert session["nextExpectedRanges"] == ["0-"]
    status = ok(mode_api.bare.get(session["uploadUrl"]))
    assert status["nextExpectedRanges"] == ["0-"]


def test_a_session_uploads_in_fragments_and_applies_its_item(mode_api: Api) -> None:
    """202 with the next range per fragment, GET status in between, and the final fragment's
    201 with the full item, name and fileSystemInfo applied; then the URL is gone (26-31)."""
    data = os.urandom(2 * UNIT + 1000)
    times = {
        "createdDateTime": "2010-01-01T00:00:00Z",
        "lastModifiedDateTime": "2011-02-02T02:02:02Z",
    }
    url = mode_api.upload_url("big.bin", name="big.bin", fileSystemInfo=times)
    for start in (0, UNIT):
        step = mode_api.fragment(url, data[start : start + UNIT], start, len(data))
        assert ok(step, 202)["nextExpectedRanges"] == [f"{start + UNIT}-"]
        assert ISO_Z.match(step.json()["expirationDateTime"])
        assert ok(mode_api.bare.get(url))["nextExpectedRanges"] == [f"{start + UNIT}-"]
    final = ok(mode_api.fragment(url, data[2 * UNIT :], 2 * UNIT, len(data)), 201)
    assert (final["name"], final["size"]) == ("big.bin", len(data))
    assert final["file"]["hashes"]["quickXorHash"] == quickxorhash_b64(data)
    assert final["fileSystemInfo"] == times
    assert final["parentReference"]["id"] == mode_api.root_id
    assert mode_api.download(final["id"]) == data
    for gone in (mode_api.bare.get(url), mode_api.fragment(url, b"x", 0, 1)):
        assert_error(gone, 404, "itemNotFound")


def test_a_session_onto_an_existing_file(api: Api) -> None:
    """The default conflictBehavior of a session is ``fail`` (409); ``replace``, and a session
    on the item itself, end with 200 and the same id (26, 30)."""
    old = api.file("same.bin", b"old")
    assert_error(api.session("SAME.bin"), 409, "nameAlreadyExists")
    url = api.upload_url("same.bin", **{CONFLICT: "replace"})
    replaced = ok(api.fragment(url, b"new bytes", 0, 9), 200)
    assert replaced["id"] == old["id"] and api.download(old["id"]) == b"new bytes"
    by_id = ok(api.http.post(item_url(old["id"], "/createUploadSession"), json={}))
    again = ok(api.fragment(by_id["uploadUrl"], b"third", 0, 5), 200)
    assert again["id"] == old["id"] and again["size"] == 5


def test_a_session_item_name_must_match_the_path(api: Api) -> None:
    """``item.name`` in the body must equal the name in the path (§5.2)."""
    assert_error(api.session("a.bin", item={"name": "b.bin"}), 400, "invalidRequest")


def test_overlapping_or_skipped_fragments_are_416(api: Api) -> None:
    """A fragment must start at the next expected byte: earlier or later is 416 (27)."""
    data = os.urandom(300)
    url = api.upload_url("f.bin")
    ok(api.fragment(url, data[:100], 0, 300), 202)
    refused = {
        "fragmentOverlap": [(0, 100), (50, 150)],
        "fragmentOutOfOrder": [(200, 300), (101, 300)],
    }
    for inner, spans in refused.items():
        for start, stop in spans:
            response = api.fragment(url, data[start:stop], start, 300)
            assert_error(response, 416, "invalidRange", inner)
    assert ok(api.bare.get(url))["nextExpectedRanges"] == ["100-"]
    final = ok(api.fragment(url, data[100:], 100, 300), 201)
    assert api.download(final["id"]) == data


def test_a_changed_total_is_400_fragment_length_mismatch(api: Api) -> None:
    """Every fragment must declare the same total (27)."""
    url = api.upload_url("f.bin")
    ok(api.fragment(url, b"a" * 100, 0, 300), 202)
    response = api.fragment(url, b"b" * 100, 100, 400)
    assert_error(response, 400, "invalidRequest", "fragmentLengthMismatch")
    assert ok(api.bare.get(url))["nextExpectedRanges"] == ["100-"]


def test_a_fragment_at_the_maximum_is_413(api: Api) -> None:
    """A fragment must be under the limit (60 MiB by default; lowered here to stay cheap)."""
    api.options.max_fragment = 1000
    url = api.upload_url("f.bin")
    assert_error(api.fragment(url, b"x" * 1000, 0, 5000), 413, "invalidRequest")
    assert ok(api.fragment(url, b"x" * 999, 0, 5000), 202)["nextExpectedRanges"] == ["999-"]


def test_the_default_maximum_fragment_is_60_mib(api: Api) -> None:
    """The documented default: a fragment must be smaller than 60 MiB (27)."""
    assert api.options.max_fragment == 60 << 20


def test_strict_mode_wants_non_final_fragments_in_320_kib_units(api: Api) -> None:
    """Strict: a non-final fragment not a multiple of 327,680 bytes is 400; the last fragment
    is the remainder (28). Lenient (the default) accepts any size."""
    lenient = api.upload_url("lenient.bin")
    assert ok(api.fragment(lenient, b"x" * 1000, 0, UNIT * 2), 202)
    api.options.strict_fragments = True
    url = api.upload_url("strict.bin")
    assert_error(api.fragment(url, b"x" * 1000, 0, UNIT + 7), 400, "invalidRequest")
    ok(api.fragment(url, b"x" * UNIT, 0, UNIT + 7), 202)
    assert ok(api.fragment(url, b"x" * 7, UNIT, UNIT + 7), 201)["size"] == UNIT + 7


def test_each_fragment_pushes_the_expiry_forward(api: Api) -> None:
    """An intermediate fragment extends the session's expirationDateTime (29)."""
    session = ok(api.session("f.bin"))
    time.sleep(0.01)
    step = ok(api.fragment(session["uploadUrl"], b"x" * 10, 0, 100), 202)

    def when(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    assert when(step["expirationDateTime"]) > when(session["expirationDateTime"])


def test_delete_on_the_upload_url_cancels_the_session(api: Api) -> None:
    """``DELETE uploadUrl``: 204; afterwards GET, PUT and DELETE give 404 (31)."""
    url = api.upload_url("f.bin")
    ok(api.fragment(url, b"x" * 10, 0, 20), 202)
    cancelled = api.bare.delete(url)
    assert cancelled.status_code == 204 and cancelled.headers["request-id"]
    assert_error(api.bare.get(url), 404, "itemNotFound")
    assert_error(api.fragment(url, b"x" * 10, 10, 20), 404, "itemNotFound")
    assert_error(api.bare.delete(url), 404, "itemNotFound")
    assert api.drive.child(api.root_id, "f.bin") is None


def test_an_authorization_header_on_the_upload_url_is_401(api: Api) -> None:
    """Upload URLs are pre-authenticated; sending the bearer token is 401 (32)."""
    url = api.upload_url("f.bin")
    bearer = {"Authorization": f"Bearer {api.fake.token}", "Content-Range": "bytes 0-9/10"}
    assert_error(api.bare.put(url, content=b"x" * 10, headers=bearer), 401)
    assert ok(api.bare.get(url))["nextExpectedRanges"] == ["0-"]  # nothing was stored


def test_the_lenient_option_accepts_authorization_on_the_upload_url(api: Api) -> None:
    """The service accepted the header for years and refuses it only now and then since 2023:
    ``strict_upload_auth`` off (``--lenient-upload-auth``) takes the fragment, any header."""
    api.options.strict_upload_auth = False
    url = api.upload_url("f.bin")
    headers = {"Authorization": f"Bearer {api.fake.token}", "Content-Range": "bytes 0-9/20"}
    assert ok(api.bare.put(url, content=b"x" * 10, headers=headers), 202)
    headers = {"Authorization": "Bearer whatever", "Content-Range": "bytes 10-19/20"}
    done = ok(api.bare.put(url, content=b"y" * 10, headers=headers), 201)
    assert api.drive.read_all(done["id"]) == b"x" * 10 + b"y" * 10


@pytest.mark.parametrize(("status", "code"), [(404, "itemNotFound"), (403, "accessDenied")])
def test_an_expired_session_is_lost(status: int, code: str) -> None:
    """An expired session answers 404 (403 accessDenied as business has shown) (32)."""
    with open_api(session_ttl=0.05, lost_session_status=status) as api:
        url = api.upload_url("f.bin")
        time.sleep(0.1)
        assert_error(api.fragment(url, b"x" * 10, 0, 10), status, code)
        assert_error(api.bare.get(url), status, code)
        assert api.drive.child(api.root_id, "f.bin") is None


def test_a_name_taken_during_the_session_fails_the_final_fragment(mode_api: Api) -> None:
    """Another device creates the name mid-session: the final fragment is 409, the session
    lives on, and once the name is free again the same fragment completes it (33)."""
    data = os.urandom(UNIT + 10)
    url = mode_api.upload_url("new.bin")
    ok(mode_api.fragment(url, data[:UNIT], 0, len(data)), 202)
    other, _ = mode_api.drive.put_bytes(mode_api.root_id, "NEW.bin", b"other device")
    final = mode_api.fragment(url, data[UNIT:], UNIT, len(data))
    assert_error(final, 409, "nameAlreadyExists")
    assert ok(mode_api.bare.get(url))["nextExpectedRanges"] == [f"{UNIT}-"]
    assert mode_api.download(other.id) == b"other device"
    mode_api.drive.delete(other.id)
    done = ok(mode_api.fragment(url, data[UNIT:], UNIT, len(data)), 201)
    assert done["file"]["hashes"]["quickXorHash"] == quickxorhash_b64(data)
    assert mode_api.download(done["id"]) == data


def test_a_session_honours_if_match_on_create(api: Api) -> None:
    """createUploadSession with a stale If-Match is 412; with the current one it proceeds."""
    file = api.file("f.bin", b"1")
    current = ok(api.put("f.bin", b"2"))
    url = child_url(api.root_id, "f.bin", "/createUploadSession")
    body = {"item": {CONFLICT: "replace"}}
    stale = api.http.post(url, json=body, headers={"If-Match": file["eTag"]})
    assert_error(stale, 412)
    assert ok(api.http.post(url, json=body, headers={"If-Match": current["eTag"]}))
