"""Items, tags, sizes, hashes, conditional requests, listing and addressing (checklist 1-9,
23, 45), and a drive that persists across restarts."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import pytest

from onemount.quickxorhash import quickxorhash_b64
from tests.fakegraph.conftest import (
    CONFLICT,
    DOWNLOAD_URL,
    ISO_Z,
    MODES,
    Api,
    assert_error,
    child_url,
    item_url,
    ok,
    open_api,
    path_url,
    without_url,
)

_COMMON = ("id", "name", "size", "eTag", "createdDateTime", "lastModifiedDateTime")


def _assert_live_shape(item: dict[str, Any], api: Api) -> None:
    """The fields every live item carries (2), with times in ISO-8601 UTC (45)."""
    for key in _COMMON:
        assert key in item, (key, item)
    reference = item["parentReference"]
    assert reference["driveId"] == api.drive.drive_id
    assert reference["driveType"] == api.mode
    assert ISO_Z.match(item["createdDateTime"]) and ISO_Z.match(item["lastModifiedDateTime"])


def test_the_root_has_a_root_facet_and_no_parent_id(mode_api: Api) -> None:
    """The root is the only item with ``root: {}``; clients spot it by the missing parent id.
    It has ``fileSystemInfo`` like any item: real roots do, and clients read it there."""
    root = mode_api.item(mode_api.root_id)
    assert ok(mode_api.http.get("/me/drive/root")) == root
    _assert_live_shape(root, mode_api)
    assert root["root"] == {}
    assert "id" not in root["parentReference"]
    assert root["folder"] == {"childCount": 0}
    assert ("cTag" in root) == (mode_api.mode == "personal")  # business folders: no cTag (4)
    times = root["fileSystemInfo"]
    assert ISO_Z.match(times["createdDateTime"]) and ISO_Z.match(times["lastModifiedDateTime"])
    (delta_root,) = [e for e in mode_api.walk().entries if e["id"] == mode_api.root_id]
    assert delta_root["fileSystemInfo"] == times


def test_personal_drive_ids_are_lowercase_and_item_ids_uppercase() -> None:
    """The personal service writes its driveId in lowercase and item ids with the uppercase
    form (``7dda670c5e7f91df`` / ``7DDA670C5E7F91DF!s…``), so a client comparing them must fold
    case; the fake does the same to bring such bugs out (§1.2)."""
    with open_api("personal") as api:
        drive_id = api.drive.drive_id
        assert drive_id == drive_id.lower() and len(drive_id) == 16
        int(drive_id, 16)
        assert ok(api.http.get("/me/drive"))["id"] == drive_id
        item = api.file("a.txt", b"a")
        assert item["id"].startswith(drive_id.upper() + "!s")
        assert item["parentReference"]["driveId"] == drive_id
        assert api.root_id.startswith(drive_id.upper() + "!s")


def test_files_and_folders_carry_their_facets(mode_api: Api) -> None:
    """Files: file{mimeType, hashes{quickXorHash}} and a cTag; folders: folder{childCount} (2)."""
    folder = mode_api.folder("Docs")
    mode_api.file("a.txt", b"hello", folder["id"])
    file = ok(mode_api.http.get(path_url("Docs", "a.txt")))
    _assert_live_shape(file, mode_api)
    assert file["name"] == "a.txt" and file["size"] == 5
    assert file["file"]["mimeType"] == "text/plain"
    assert file["file"]["hashes"]["quickXorHash"] == quickxorhash_b64(b"hello")
    assert "folder" not in file and "root" not in file
    assert file["cTag"]  # files have a cTag in both modes
    assert file["parentReference"]["id"] == folder["id"]
    assert file["parentReference"]["path"] == "/drive/root:/Docs"
    assert file[DOWNLOAD_URL].startswith(mode_api.fake.origin)  # (23)
    for key in ("createdDateTime", "lastModifiedDateTime"):
        assert ISO_Z.match(file["fileSystemInfo"][key])

    folder = mode_api.item(folder["id"])
    _assert_live_shape(folder, mode_api)
    assert folder["folder"] == {"childCount": 1}
    assert "file" not in folder and "root" not in folder and DOWNLOAD_URL not in folder
    assert folder["parentReference"]["id"] == mode_api.root_id
    assert folder["parentReference"]["path"] == "/drive/root:"
    assert ("cTag" in folder) == (mode_api.mode == "personal")


def test_ids_are_unique_and_survive_rename_and_move(api: Api) -> None:
    """Ids are assigned at creation and never change (1)."""
    a, b = api.folder("A"), api.folder("B")
    file = api.file("f.txt", b"x", a["id"])
    assert len({a["id"], b["id"], file["id"], api.root_id}) == 4
    renamed = ok(api.patch(file["id"], {"name": "g.txt"}))
    moved = ok(api.patch(file["id"], {"parentReference": {"id": b["id"]}}))
    assert renamed["id"] == moved["id"] == file["id"]
    assert ok(api.http.get(path_url("B", "g.txt")))["id"] == file["id"]
    assert_error(api.http.get(path_url("A", "f.txt")), 404, "itemNotFound")


def test_lookup_by_id_is_case_sensitive(mode_api: Api) -> None:
    """Ids are opaque and case-sensitive: another casing names no item (1, §8)."""
    file = mode_api.file("x.txt")
    swapped = file["id"].swapcase()
    assert swapped != file["id"]
    assert_error(mode_api.http.get(item_url(swapped)), 404, "itemNotFound")


def test_path_lookup_ignores_case_and_finds_the_same_item(api: Api) -> None:
    """``:/Folder-A/Foo.txt`` and ``:/folder-a/foo.TXT`` are one item; names keep their case."""
    folder = api.folder("Folder-A")
    file = api.file("Foo.txt", b"1", folder["id"])
    found = ok(api.http.get(path_url("folder-a", "foo.TXT")))
    assert found["id"] == file["id"] and found["name"] == "Foo.txt"
    assert ok(api.http.get(path_url("FOLDER-A")))["name"] == "Folder-A"
    by_parent = ok(api.http.get(child_url(folder["id"], "FOO.TXT")))
    assert by_parent["id"] == file["id"]


@pytest.mark.parametrize(
    "name",
    [
        "Notes #1 (100% done).txt",
        "two  spaces .txt",
        "Résumé ünïcødé 日本語.txt",
        "100%41.txt",  # %41 must stay three characters, not become "A"
        "a+b=c&d;e.txt",
    ],
)
def test_path_segments_are_percent_decoded_one_by_one(api: Api, name: str) -> None:
    """Each segment is decoded on its own: ``#``, ``%``, spaces and unicode survive (§8)."""
    folder = api.folder("Sub #% é")
    file = api.file(name, b"data", folder["id"])
    assert file["name"] == name
    found = ok(api.http.get(path_url("Sub #% é", name)))
    assert found["id"] == file["id"] and found["name"] == name
    assert found["parentReference"]["path"] == "/drive/root:/Sub #% é"
    listing = ok(api.http.get(path_url("Sub #% é", action="/children")))
    assert [child["name"] for child in listing["value"]] == [name]


def test_an_encoded_slash_separates_like_a_slash(api: Api) -> None:
    """Graph decodes the path before it splits it, so ``a%2Fb.txt`` is ``a`` / ``b.txt``: a name
    sent that way became a folder and a file (msgraph-sdk-dotnet#2565), and a client encoding
    whole paths reached its folders (skilion/onedrive#167). A name never holds a ``/``."""
    folder = api.folder("a")
    file = api.file("b.txt", b"x", folder["id"])
    assert ok(api.http.get("/me/drive/root:/a%2Fb.txt:"))["id"] == file["id"]
    assert ok(api.http.get("/me/drive/root:/A%2fB.TXT:"))["id"] == file["id"]
    created = ok(api.http.put("/me/drive/root:/a%2Fc.txt:/content", content=b"c"), 201)
    assert created["name"] == "c.txt" and created["parentReference"]["id"] == folder["id"]
    listing = ok(api.http.get("/me/drive/root:/a%2F:/children"))
    assert sorted(child["name"] for child in listing["value"]) == ["b.txt", "c.txt"]


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_newline_in_a_path_gets_graphs_error_body(api: Api, method: str) -> None:
    """A control character in a path is an unknown item (GET) or a bad name (PUT), answered in
    Graph's error shape with a request-id like every error (39), not the router's plain 404."""
    response = api.http.request(method, "/me/drive/root:/a%0Ab.txt:/content", content=b"x")
    if method == "GET":
        assert_error(response, 404, "itemNotFound")
    else:
        assert_error(response, 400, "invalidRequest", "invalidPath")
    assert_error(api.bare.get(f"{api.fake.origin}/nowhere%0Aat/all"), 404)
    assert_error(api.bare.post(f"{api.fake.origin}/dl/x"), 405)


def test_drive_ids_in_urls_compare_case_insensitively(mode_api: Api) -> None:
    """``/drives/{driveId}/...`` accepts the drive id in any casing (§1.2); another id is 404."""
    drive_id = mode_api.drive.drive_id
    file = mode_api.file("x.txt", b"x")
    for variant in {drive_id, drive_id.lower(), drive_id.swapcase()}:
        assert ok(mode_api.http.get(f"/drives/{variant}/root"))["id"] == mode_api.root_id
        assert ok(mode_api.http.get(f"/drives/{variant}/items/{file['id']}"))["name"] == "x.txt"
        assert ok(mode_api.http.get(f"/drives/{variant}/root:/X.TXT:"))["id"] == file["id"]
        assert ok(mode_api.http.get(f"/drives/{variant}"))["id"] == drive_id
    assert_error(mode_api.http.get("/drives/0123456789ABCDEF/root"), 404, "itemNotFound")


def test_a_file_etag_moves_on_every_change_and_its_ctag_only_on_content(mode_api: Api) -> None:
    """eTag: metadata or content; cTag: content only (3)."""
    file = mode_api.file("f.txt", b"one")
    renamed = ok(mode_api.patch(file["id"], {"name": "g.txt"}))
    assert renamed["eTag"] != file["eTag"] and renamed["cTag"] == file["cTag"]
    times = {"lastModifiedDateTime": "2020-01-02T03:04:05Z"}
    retimed = ok(mode_api.patch(file["id"], {"fileSystemInfo": times}))
    assert retimed["eTag"] not in (file["eTag"], renamed["eTag"])
    assert retimed["cTag"] == file["cTag"]
    rewritten = ok(mode_api.http.put(item_url(file["id"], "/content"), content=b"two"))
    assert rewritten["eTag"] != retimed["eTag"] and rewritten["cTag"] != retimed["cTag"]
    assert without_url(mode_api.item(file["id"])) == without_url(rewritten)


def test_a_folder_etag_ignores_children_but_its_child_count_follows(mode_api: Api) -> None:
    """Adding or removing a child keeps the folder's eTag and updates childCount (4)."""
    folder = mode_api.folder("F")
    child = mode_api.file("c.txt", b"c", folder["id"])
    after_add = mode_api.item(folder["id"])
    assert after_add["eTag"] == folder["eTag"]
    assert after_add["folder"]["childCount"] == 1
    mode_api.folder("sub", folder["id"])
    assert mode_api.item(folder["id"])["folder"]["childCount"] == 2
    assert mode_api.http.delete(item_url(child["id"])).status_code == 204
    after_delete = mode_api.item(folder["id"])
    assert after_delete["eTag"] == folder["eTag"]
    assert after_delete["folder"]["childCount"] == 1
    if mode_api.mode == "personal":
        assert after_add["cTag"] != folder["cTag"] != after_delete["cTag"]
    else:
        assert "cTag" not in after_add and "cTag" not in after_delete


@pytest.mark.parametrize(
    "change",
    ["content", "rename", "move_in", "delete", "create"],
)
def test_a_personal_folder_ctag_follows_any_descendant_change(change: str) -> None:
    """Personal: a folder's cTag changes when anything below it changes, at any depth (4)."""
    with open_api("personal") as api:
        top = api.folder("top")
        middle = api.folder("middle", top["id"])
        elsewhere = api.file("elsewhere.txt", b"e")
        leaf = api.file("leaf.txt", b"1", middle["id"])
        before = {i: api.item(i) for i in (top["id"], middle["id"], api.root_id)}
        if change == "content":
            ok(api.http.put(item_url(leaf["id"], "/content"), content=b"22"))
        elif change == "rename":
            ok(api.patch(leaf["id"], {"name": "leaf2.txt"}))
        elif change == "move_in":
            ok(api.patch(elsewhere["id"], {"parentReference": {"id": middle["id"]}}))
        elif change == "delete":
            assert api.http.delete(item_url(leaf["id"])).status_code == 204
        else:
            api.folder("new", middle["id"])
        for item_id, old in before.items():
            new = api.item(item_id)
            assert new["cTag"] != old["cTag"], item_id
            assert new["eTag"] == old["eTag"], item_id


def test_business_folders_never_have_a_ctag() -> None:
    """Business: no cTag on folders, the root included, before or after changes (4)."""
    with open_api("business") as api:
        top = api.folder("top")
        file = api.file("f.txt", b"x", top["id"])
        listing = ok(api.http.get(item_url(api.root_id, "/children")))["value"]
        for item in [api.item(api.root_id), api.item(top["id"]), *listing]:
            assert "cTag" not in item, item
        assert "cTag" in api.item(file["id"])


def test_a_folder_size_is_the_sum_of_its_descendants(mode_api: Api) -> None:
    """Folder sizes (the root's included) follow writes, moves and deletes below them (5)."""
    a = mode_api.folder("A")
    b = mode_api.folder("B", a["id"])
    mode_api.file("a.bin", b"a" * 100, a["id"])
    deep = mode_api.file("b.bin", b"b" * 250, b["id"])
    mode_api.file("c.bin", b"c" * 7)

    def sizes() -> list[int]:
        return [mode_api.item(i)["size"] for i in (a["id"], b["id"], mode_api.root_id)]

    assert sizes() == [350, 250, 357]
    ok(mode_api.http.put(item_url(deep["id"], "/content"), content=b"b" * 50))
    assert sizes() == [150, 50, 157]
    ok(mode_api.patch(b["id"], {"parentReference": {"id": mode_api.root_id}}))
    assert sizes() == [100, 50, 157]
    assert mode_api.http.delete(item_url(a["id"])).status_code == 204
    assert mode_api.item(mode_api.root_id)["size"] == 57


@pytest.mark.parametrize("size", [0, 1, 19, 20, 21, 160, 1000, 327_681])
def test_the_quickxorhash_is_that_of_the_stored_bytes(api: Api, size: int) -> None:
    """quickXorHash (base64) is §10's hash of the bytes, in the upload answer and on GET (6)."""
    data = random.Random(size).randbytes(size)
    created = api.file(f"{size}.bin", data)
    expected = quickxorhash_b64(data)
    assert created["file"]["hashes"] == {"quickXorHash": expected}
    assert api.item(created["id"])["file"]["hashes"]["quickXorHash"] == expected
    assert api.download(created["id"]) == data


@pytest.mark.parametrize("mode", MODES)
def test_the_sha256_option_adds_sha256hash_on_personal_only(mode: str) -> None:
    """A personal-mode option adds sha256Hash (hex); business has quickXorHash only (6)."""
    with open_api(mode, sha256=True) as api:
        data = os.urandom(3000)
        hashes = api.file("f.bin", data)["file"]["hashes"]
        if mode == "personal":
            assert hashes["sha256Hash"].lower() == hashlib.sha256(data).hexdigest()
        else:
            assert hashes == {"quickXorHash": quickxorhash_b64(data)}


def test_if_none_match_with_a_current_tag_gives_304(mode_api: Api) -> None:
    """GET item, children and content answer 304 for the current eTag or cTag (7, §1.3)."""
    folder = mode_api.folder("F")
    file = mode_api.file("f.txt", b"x", folder["id"])
    folder = mode_api.item(folder["id"])
    cases = [
        (item_url(file["id"]), file["eTag"]),
        (item_url(file["id"]), file["cTag"]),
        (item_url(file["id"], "/content"), file["eTag"]),
        (item_url(file["id"], "/content"), file["cTag"]),
        (item_url(folder["id"]), folder["eTag"]),
        (item_url(folder["id"], "/children"), folder["eTag"]),
    ]
    for url, tag in cases:
        response = mode_api.http.get(url, headers={"If-None-Match": tag})
        assert response.status_code == 304, (url, response.text)
        assert response.content == b"" and response.headers["request-id"]
    stale = '"{00000000-0000-0000-0000-000000000000},1"'
    assert (
        mode_api.http.get(item_url(file["id"]), headers={"If-None-Match": stale}).status_code == 200
    )
    listing = mode_api.http.get(
        item_url(folder["id"], "/children"), headers={"If-None-Match": stale}
    )
    assert listing.status_code == 200


def test_a_personal_folder_ctag_invalidates_a_cached_listing() -> None:
    """A children listing cached under the folder's cTag is fresh (304) until a child changes,
    then stale (200): the cTag is the validator that follows descendants (4, 7)."""
    with open_api("personal") as api:
        folder = api.folder("F")
        tag = api.item(folder["id"])["cTag"]
        url = item_url(folder["id"], "/children")
        assert api.http.get(url, headers={"If-None-Match": tag}).status_code == 304
        api.file("new.txt", b"n", folder["id"])
        fresh = ok(api.http.get(url, headers={"If-None-Match": tag}))
        assert [child["name"] for child in fresh["value"]] == ["new.txt"]


@pytest.mark.parametrize("operation", ["patch", "delete", "put_by_id", "put_by_name", "session"])
def test_a_stale_if_match_gives_412_and_changes_nothing(api: Api, operation: str) -> None:
    """PATCH, DELETE, PUT and createUploadSession with an outdated tag are refused (7, §1.3)."""
    first = api.file("f.txt", b"v1")
    current = ok(api.put("f.txt", b"v2"))
    stale = {"If-Match": first["eTag"]}
    if operation == "patch":
        response = api.patch(first["id"], {"name": "renamed.txt"}, **stale)
    elif operation == "delete":
        response = api.http.delete(item_url(first["id"]), headers=stale)
    elif operation == "put_by_id":
        response = api.http.put(item_url(first["id"], "/content"), content=b"v3", headers=stale)
    elif operation == "put_by_name":
        url = child_url(api.root_id, "f.txt", "/content")
        response = api.http.put(url, content=b"v3", headers=stale)
    else:
        url = child_url(api.root_id, "f.txt", "/createUploadSession")
        body = {"item": {"@microsoft.graph.conflictBehavior": "replace"}}
        response = api.http.post(url, json=body, headers=stale)
    body = assert_error(response, 412)
    assert body["error"]["code"] in ("resourceModified", "notAllowed")  # both seen (§6)
    after = api.item(first["id"])
    assert (after["eTag"], after["name"], after["size"]) == (current["eTag"], "f.txt", 2)
    assert api.download(first["id"]) == b"v2"
    # The current tag (either of them) passes.
    assert ok(api.patch(first["id"], {"name": "g.txt"}, **{"If-Match": current["cTag"]}))


def test_if_none_match_star_refuses_an_existing_target(api: Api) -> None:
    """``If-None-Match: *`` asserts the target is absent: 412 when it exists (7, [I-607])."""
    file = api.file("f.txt", b"v1")
    absent = {"If-None-Match": "*"}
    put = api.http.put(child_url(api.root_id, "f.txt", "/content"), content=b"v2", headers=absent)
    assert_error(put, 412)
    by_id = api.http.put(item_url(file["id"], "/content"), content=b"v2", headers=absent)
    assert_error(by_id, 412)
    url = child_url(api.root_id, "f.txt", "/createUploadSession")
    session = api.http.post(url, json={"item": {CONFLICT: "replace"}}, headers=absent)
    assert_error(session, 412)
    assert api.download(file["id"]) == b"v1"
    new = api.http.put(child_url(api.root_id, "g.txt", "/content"), content=b"g", headers=absent)
    assert ok(new, 201)["name"] == "g.txt"


def test_children_page_by_top_with_an_absolute_skiptoken_link(mode_api: Api) -> None:
    """``$top`` sets the page size; nextLink is absolute with ``$skiptoken``; the last page
    has none (8)."""
    folder = mode_api.folder("many")
    names = {f"f{n}.txt" for n in range(3)} | {"d0", "d1"}
    for name in names:
        if name.startswith("d"):
            mode_api.folder(name, folder["id"])
        else:
            mode_api.file(name, b"x", folder["id"])
    pages = [ok(mode_api.http.get(item_url(folder["id"], "/children"), params={"$top": "2"}))]
    while "@odata.nextLink" in pages[-1]:
        link = pages[-1]["@odata.nextLink"]
        assert link.startswith(mode_api.fake.base_url + "/") and "$skiptoken=" in link
        pages.append(ok(mode_api.http.get(link)))
    assert [len(page["value"]) for page in pages] == [2, 2, 1]
    seen = [child["name"] for page in pages for child in page["value"]]
    assert sorted(seen) == sorted(names)


def test_children_nextlink_keeps_an_encoded_path(api: Api) -> None:
    """A nextLink for a folder addressed by path re-encodes the path (``#``, ``%41``, space)."""
    name = "odd #1 100%41"
    folder = api.folder(name)
    for n in range(3):
        api.file(f"f{n}", b"x", folder["id"])
    first = ok(api.http.get(path_url(name, action="/children"), params={"$top": "2"}))
    second = ok(api.http.get(first["@odata.nextLink"]))
    assert [c["name"] for c in first["value"] + second["value"]] == ["f0", "f1", "f2"]
    assert "@odata.nextLink" not in second


def test_children_default_page_size_is_200(api: Api) -> None:
    """Without ``$top`` a page holds 200 children (8)."""
    api.drive.populate(251, fanout=250)
    folder = api.drive.children(api.root_id, None, 1)[0]
    first = ok(api.http.get(item_url(folder.id, "/children")))
    assert len(first["value"]) == 200
    second = ok(api.http.get(first["@odata.nextLink"]))
    assert len(second["value"]) == 50 and "@odata.nextLink" not in second


@pytest.mark.parametrize("param", ["$select", "select"])
def test_select_returns_only_the_named_properties_and_the_id(api: Api, param: str) -> None:
    """``$select=a,b`` (or ``select=``) limits every item to those properties plus id (9)."""
    folder = api.folder("F")
    file = api.file("f.txt", b"x", folder["id"])
    got = ok(api.http.get(item_url(file["id"]), params={param: "name,size"}))
    assert got == {"id": file["id"], "name": "f.txt", "size": 1}
    listing = ok(api.http.get(item_url(folder["id"], "/children"), params={param: "name"}))
    assert listing["value"] == [{"id": file["id"], "name": "f.txt"}]
    with_url = ok(api.http.get(item_url(file["id"]), params={param: f"name,{DOWNLOAD_URL}"}))
    assert set(with_url) == {"id", "name", DOWNLOAD_URL}


def test_children_listings_carry_download_urls_for_files(api: Api) -> None:
    """Files in children listings have ``@microsoft.graph.downloadUrl`` serving their bytes (23)."""
    api.file("f.txt", b"listed")
    api.folder("d")
    listing = ok(api.http.get(item_url(api.root_id, "/children")))["value"]
    by_name = {child["name"]: child for child in listing}
    assert DOWNLOAD_URL not in by_name["d"]
    assert api.bare.get(by_name["f.txt"][DOWNLOAD_URL]).content == b"listed"


def test_file_system_info_is_stored_as_given_and_service_times_are_the_servers(api: Api) -> None:
    """fileSystemInfo is the client's, exactly; lastModifiedDateTime is the server's; new
    content without fileSystemInfo resets the client's modified time to now (45, §1.1)."""
    file = api.file("f.txt", b"1")
    times = {
        "createdDateTime": "2001-02-03T04:05:06Z",
        "lastModifiedDateTime": "2002-03-04T05:06:07Z",
    }
    patched = ok(api.patch(file["id"], {"fileSystemInfo": times}))
    assert patched["fileSystemInfo"] == times
    assert patched["lastModifiedDateTime"] >= file["lastModifiedDateTime"]
    assert ISO_Z.match(patched["lastModifiedDateTime"])
    rewritten = ok(api.http.put(item_url(file["id"], "/content"), content=b"2"))
    assert rewritten["fileSystemInfo"]["createdDateTime"] == times["createdDateTime"]
    assert rewritten["fileSystemInfo"]["lastModifiedDateTime"] > "2020"
    bad = api.patch(file["id"], {"fileSystemInfo": {"lastModifiedDateTime": "yesterday"}})
    assert_error(bad, 400, "invalidRequest")


@pytest.mark.parametrize("mode", MODES)
def test_a_persisted_drive_keeps_its_items_and_ids_across_restarts(
    tmp_path: Path, mode: str
) -> None:
    """``running_fake(data_dir=...)`` twice on one folder serves the same drive."""
    with open_api(mode, data_dir=tmp_path) as api:
        drive_id, root_id = api.drive.drive_id, api.root_id
        folder = api.folder("kept")
        file = api.item(api.file("kept.txt", b"persisted", folder["id"])["id"])
        cursor = api.cursor().removeprefix(api.fake.base_url)  # the port changes
    with open_api(mode, data_dir=tmp_path) as api:
        assert (api.drive.drive_id, api.root_id) == (drive_id, root_id)
        assert without_url(api.item(file["id"])) == without_url(file)
        assert ok(api.http.get(path_url("kept", "kept.txt")))["id"] == file["id"]
        assert api.download(file["id"]) == b"persisted"
        api.file("after.txt", b"new", folder["id"])
        changed = api.walk(cursor)  # a cursor from before the restart still works
        assert "after.txt" in [e.get("name") for e in changed.entries]
        assert "kept.txt" not in [e.get("name") for e in changed.entries]
