"""The delta feed (checklist 10-20, 23): enumeration, cursors, ancestors, tombstones by mode,
``$select`` in links, the test knobs, 410 for an expired cursor, parents before children, and
``parentReference.path`` as each mode's service sends it."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakegraph.conftest import (
    DELTA,
    DOWNLOAD_URL,
    Api,
    assert_error,
    item_url,
    ok,
    open_api,
    path_url,
)


def _tree(api: Api) -> dict[str, str]:
    """``A/x.txt``, ``A/B/y.txt``, ``z.txt``: name -> id."""
    a = api.folder("A")
    b = api.folder("B", a["id"])
    x = api.file("x.txt", b"x", a["id"])
    y = api.file("y.txt", b"yy", b["id"])
    z = api.file("z.txt", b"zzz")
    return {"A": a["id"], "B": b["id"], "x": x["id"], "y": y["id"], "z": z["id"]}


def _paths_as_the_mode_sends_them(api: Api, entries: list[dict[str, Any]]) -> None:
    """Business delta never has ``parentReference.path`` (17); personal delta has the parent's
    path on every live entry below the root, as the service is seen to send it."""
    for entry in entries:
        reference = entry.get("parentReference", {})
        if api.mode == "business" or "deleted" in entry or "id" not in reference:
            assert "path" not in reference, entry
            continue
        parent = api.item(reference["id"])
        above = "/drive/root:" if "root" in parent else parent["parentReference"]["path"]
        expected = "/drive/root:" if "root" in parent else f"{above}/{parent['name']}"
        assert reference["path"] == expected, entry


def _parents_first(entries: list[dict[str, Any]]) -> None:
    """Every entry whose parent is in the feed comes after the parent's first appearance."""
    ids = [entry["id"] for entry in entries]
    for position, entry in enumerate(entries):
        parent = entry.get("parentReference", {}).get("id")
        if parent in ids:
            assert ids.index(parent) < position, (entry["name"], ids)


def test_the_first_walk_pages_through_every_live_item(mode_api: Api) -> None:
    """No token: every live item, the root included, in ``$top``-sized pages; only the last
    page has the deltaLink (10); deleted items are not enumerated."""
    ids = _tree(mode_api)
    gone = mode_api.file("gone.txt")
    assert mode_api.http.delete(item_url(gone["id"])).status_code == 204
    feed = mode_api.walk(**{"$top": "2"})
    assert [len(page["value"]) for page in feed.pages] == [2, 2, 2]
    for page in feed.pages[:-1]:
        assert page["@odata.nextLink"].startswith(mode_api.fake.base_url + "/")
    assert sorted(feed.ids) == sorted([mode_api.root_id, *ids.values()])
    assert feed.last(mode_api.root_id)["root"] == {}
    assert all("deleted" not in entry for entry in feed.entries)
    _paths_as_the_mode_sends_them(mode_api, feed.entries)
    assert feed.delta_link.startswith(mode_api.fake.base_url + "/")


def test_the_default_delta_page_holds_200_items(api: Api) -> None:
    """Without ``$top`` the page size is 200 (10)."""
    api.drive.populate(250)
    feed = api.walk()
    assert [len(page["value"]) for page in feed.pages] == [200, 51]


def test_token_latest_is_an_empty_page_with_a_delta_link(mode_api: Api) -> None:
    """``?token=latest`` enumerates nothing and hands out a cursor for "now" (11)."""
    _tree(mode_api)
    page = ok(mode_api.http.get(DELTA, params={"token": "latest"}))
    assert page["value"] == [] and "@odata.nextLink" not in page
    quiet = mode_api.walk(page["@odata.deltaLink"])
    assert quiet.entries == [] and len(quiet.pages) == 1


def test_after_a_cursor_come_changes_and_their_ancestors_but_not_siblings(mode_api: Api) -> None:
    """Creating ``container/folder1/folder3`` brings root, container, folder1 and folder3, not
    the untouched ``folder2`` (12, [X-real test_track_changes])."""
    container = mode_api.folder("container")
    folder1 = mode_api.folder("folder1", container["id"])
    mode_api.folder("folder2", container["id"])
    mode_api.file("other.txt", b"o")
    cursor = mode_api.cursor()
    folder3 = mode_api.folder("folder3", folder1["id"])
    feed = mode_api.walk(cursor)
    assert set(feed.ids) == {mode_api.root_id, container["id"], folder1["id"], folder3["id"]}
    assert feed.last(folder3["id"])["parentReference"]["id"] == folder1["id"]
    _paths_as_the_mode_sends_them(mode_api, feed.entries)


def test_a_renamed_or_moved_folder_comes_without_its_subtree(mode_api: Api) -> None:
    """A folder's rename or move re-emits the folder alone (plus its ancestors), never its
    descendants (13)."""
    ids = _tree(mode_api)
    other = mode_api.folder("C")
    cursor = mode_api.cursor()
    ok(mode_api.patch(ids["A"], {"name": "A2"}))
    renamed = mode_api.walk(cursor)
    assert set(renamed.ids) == {mode_api.root_id, ids["A"]}
    assert renamed.last(ids["A"])["name"] == "A2"
    ok(mode_api.patch(ids["A"], {"parentReference": {"id": other["id"]}}))
    moved = mode_api.walk(renamed.delta_link)
    assert set(moved.ids) == {mode_api.root_id, other["id"], ids["A"]}
    assert moved.last(ids["A"])["parentReference"]["id"] == other["id"]


def test_two_edits_between_cursors_give_one_entry_with_the_final_state(mode_api: Api) -> None:
    """The feed carries each item's latest state, once (14)."""
    file = mode_api.file("f.txt", b"1")
    cursor = mode_api.cursor()
    ok(mode_api.patch(file["id"], {"name": "g.txt"}))
    ok(mode_api.http.put(item_url(file["id"], "/content"), content=b"22"))
    final = ok(mode_api.patch(file["id"], {"name": "h.txt"}))
    feed = mode_api.walk(cursor)
    assert feed.ids.count(file["id"]) == 1
    entry = feed.last(file["id"])
    assert (entry["name"], entry["size"], entry["eTag"]) == ("h.txt", 2, final["eTag"])


def test_the_duplicate_knob_repeats_items_across_pages(api: Api) -> None:
    """``duplicate_delta`` repeats an item on the next page; the last occurrence is current (14)."""
    ids = _tree(api)
    api.options.duplicate_delta = True
    feed = api.walk(**{"$top": "2"})
    assert len(feed.ids) > len(set(feed.ids))
    assert set(feed.ids) == {api.root_id, *ids.values()}
    repeated = next(i for i in feed.ids if feed.ids.count(i) > 1)
    pages_with_it = [p for p in feed.pages if repeated in [e["id"] for e in p["value"]]]
    assert len(pages_with_it) > 1
    assert feed.last(ids["z"])["name"] == "z.txt"


def test_parents_come_before_their_children_by_default(mode_api: Api) -> None:
    """Folders renamed after their children were written sort after them by last change; the
    service is seen to send parents first and clients rely on it, so the default order does, on
    a first walk and after a cursor, in pages of any size (a parent pulled ahead comes again at
    its own place on a later page, which the feed allows, 14)."""
    a = mode_api.folder("A")
    b = mode_api.folder("B", a["id"])
    x = mode_api.file("x.txt", b"x", b["id"])
    sizes = ("1", "2", "3", "200")
    cursors = {top: mode_api.cursor(**{"$top": top}) for top in sizes}  # $top rides the link
    y = mode_api.file("y.txt", b"y", b["id"])
    ok(mode_api.patch(a["id"], {"name": "A2"}))
    ok(mode_api.patch(b["id"], {"name": "B2"}))
    for top in sizes:
        first = mode_api.walk(**{"$top": top})
        assert set(first.ids) == {mode_api.root_id, a["id"], b["id"], x["id"], y["id"]}
        _parents_first(first.entries)
        assert (first.last(a["id"])["name"], first.last(b["id"])["name"]) == ("A2", "B2")
        later = mode_api.walk(cursors[top])
        assert set(later.ids) == {mode_api.root_id, a["id"], b["id"], y["id"]}
        _parents_first(later.entries)
    assert mode_api.walk().ids.count(b["id"]) == 1  # one page: each entry once


def test_personal_delta_carries_the_parent_path_unless_told_not_to() -> None:
    """Personal delta has ``parentReference.path`` (``/drive/root:`` for the root's children),
    as the service is seen to send and clients read; ``delta_parent_path`` off leaves it out,
    as documented (17). GET keeps it either way."""
    with open_api("personal") as api:
        ids = _tree(api)
        feed = api.walk()
        assert feed.last(ids["y"])["parentReference"]["path"] == "/drive/root:/A/B"
        assert feed.last(ids["z"])["parentReference"]["path"] == "/drive/root:"
        assert "path" not in feed.last(api.root_id)["parentReference"]
        api.options.delta_parent_path = False
        assert all("path" not in e["parentReference"] for e in api.walk().entries)
        assert api.item(ids["y"])["parentReference"]["path"] == "/drive/root:/A/B"


def test_the_shuffle_knob_can_put_children_before_parents(api: Api) -> None:
    """``shuffle_delta`` orders entries at random within and across pages (15)."""
    parent = api.root_id
    chain = []
    for depth in range(8):
        parent = api.folder(f"level{depth}", parent)["id"]
        chain.append(parent)
    api.options.shuffle_delta = True
    feed = api.walk(**{"$top": "3"})
    assert set(feed.ids) == {api.root_id, *chain}
    position = {item_id: feed.ids.index(item_id) for item_id in feed.ids}
    assert any(position[child] < position[up] for up, child in itertools.pairwise(chain))


def test_deleted_items_are_tombstones_shaped_by_mode(mode_api: Api) -> None:
    """Deletes carry ``deleted`` and no cTag; personal drops size, business drops name; a
    deleted folder brings every descendant as deleted (16, 17)."""
    ids = _tree(mode_api)
    names = {ids["A"]: "A", ids["B"]: "B", ids["x"]: "x.txt", ids["y"]: "y.txt", ids["z"]: "z.txt"}
    cursor = mode_api.cursor()
    for doomed in (ids["z"], ids["A"]):
        assert mode_api.http.delete(item_url(doomed)).status_code == 204
    feed = mode_api.walk(cursor)
    assert set(feed.ids) - {mode_api.root_id} == set(names)
    for item_id, name in names.items():
        entry = feed.last(item_id)
        assert entry["deleted"] in ({}, {"state": "deleted"}), entry
        assert "cTag" not in entry
        if mode_api.mode == "personal":
            assert "size" not in entry and entry["name"] == name
        else:
            assert "name" not in entry
    assert "deleted" not in feed.last(mode_api.root_id)
    _paths_as_the_mode_sends_them(mode_api, feed.entries)


def test_live_entries_follow_each_modes_field_rules(mode_api: Api) -> None:
    """Personal delta has cTag and size and reports childCount 0; business omits cTag on
    creates and modifies and counts children (§2.2, §13)."""
    ids = _tree(mode_api)
    feed = mode_api.walk()
    file, folder = feed.last(ids["x"]), feed.last(ids["A"])
    assert file["size"] == 1
    if mode_api.mode == "personal":
        assert file["cTag"] and folder["cTag"]
        assert folder["folder"]["childCount"] == 0  # the documented personal quirk
    else:
        assert all("cTag" not in entry for entry in feed.entries)
        assert folder["folder"]["childCount"] == 2


def test_select_is_carried_into_next_and_delta_links(mode_api: Api) -> None:
    """``$select`` survives in every nextLink and the deltaLink, and keeps applying (18)."""
    ids = _tree(mode_api)
    select = "id,name,deleted"
    feed = mode_api.walk(**{"$select": select, "$top": "2"})
    links = [page.get("@odata.nextLink") or page["@odata.deltaLink"] for page in feed.pages]
    for link in links:
        assert parse_qs(urlsplit(link).query)["$select"] == [select], link
    assert all(set(entry) <= {"id", "name", "deleted"} for entry in feed.entries)
    assert mode_api.http.delete(item_url(ids["z"])).status_code == 204
    later = mode_api.walk(feed.delta_link)
    tombstone = later.last(ids["z"])
    assert "deleted" in tombstone and set(tombstone) <= {"id", "name", "deleted"}
    assert parse_qs(urlsplit(later.delta_link).query)["$select"] == [select]


def test_without_deleted_in_select_a_tombstone_loses_the_facet(mode_api: Api) -> None:
    """If ``deleted`` is not selected, the facet is stripped ([AT-145], 18)."""
    file = mode_api.file("f.txt")
    cursor = mode_api.cursor(**{"$select": "id,name"})
    assert mode_api.http.delete(item_url(file["id"])).status_code == 204
    entry = mode_api.walk(cursor).last(file["id"])
    assert "deleted" not in entry and set(entry) <= {"id", "name"}


def test_an_expired_cursor_answers_410_with_a_fresh_location(mode_api: Api) -> None:
    """After ``POST /_fake/expire-delta`` old tokens answer 410 resyncRequired, and Location
    points at a fresh delta that enumerates everything (19)."""
    ids = _tree(mode_api)
    cursor = mode_api.cursor(**{"$select": "id,name"})
    half = ok(mode_api.http.get(DELTA, params={"$top": "1"}))["@odata.nextLink"]
    assert mode_api.admin("POST", "/expire-delta").status_code == 204
    for stale in (cursor, half):
        response = mode_api.http.get(stale)
        assert_error(response, 410, "resyncRequired")
        location = response.headers["Location"]
        assert location.startswith(mode_api.fake.base_url + "/")
        assert "token" not in parse_qs(urlsplit(location).query)
    response = mode_api.http.get(cursor)
    fresh = mode_api.walk(response.headers["Location"])
    assert set(fresh.ids) == {mode_api.root_id, *ids.values()}
    assert all(set(entry) <= {"id", "name"} for entry in fresh.entries)  # $select kept
    assert mode_api.walk(fresh.delta_link).entries == []


def test_a_garbled_token_answers_410(mode_api: Api) -> None:
    """A token the service cannot read is a cursor it lost: 410 resyncRequired (19)."""
    response = mode_api.http.get(DELTA, params={"token": "not-a-token"})
    assert_error(response, 410, "resyncRequired")
    assert response.headers["Location"]


def test_business_delta_on_a_non_root_folder_is_not_supported() -> None:
    """Business serves delta on the root only: 400 notSupported elsewhere (20, [I-842])."""
    with open_api("business") as api:
        folder = api.folder("F")
        for url in (item_url(folder["id"], "/delta"), path_url("F", action="/delta")):
            assert_error(api.http.get(url), 400, "notSupported")
        assert ok(api.http.get(item_url(api.root_id, "/delta")))["value"]
        assert ok(api.http.get(f"/drives/{api.drive.drive_id.lower()}/root/delta"))["value"]


def test_file_entries_carry_a_working_download_url(mode_api: Api) -> None:
    """Files in delta have ``@microsoft.graph.downloadUrl`` serving their bytes (23)."""
    ids = _tree(mode_api)
    feed = mode_api.walk()
    assert mode_api.bare.get(feed.last(ids["y"])[DOWNLOAD_URL]).content == b"yy"
    assert DOWNLOAD_URL not in feed.last(ids["A"])


def test_personal_delta_works_on_any_folder() -> None:
    """Personal drives serve delta on any folder: its subtree only, ancestors up to that
    folder, its own cursors (§2.1.5, [I-842])."""
    with open_api("personal") as api:
        ids = _tree(api)
        url = item_url(ids["A"], "/delta")
        feed = api.walk(url, **{"$top": "2"})
        assert sorted(feed.ids) == sorted([ids["A"], ids["B"], ids["x"], ids["y"]])
        assert all(link.startswith(api.fake.base_url + url) for link in [feed.delta_link])
        assert set(api.walk(path_url("a", action="/delta")).ids) == set(feed.ids)
        api.file("outside.txt")
        deep = api.file("deep.txt", b"d", ids["B"])
        assert api.http.delete(item_url(ids["x"])).status_code == 204
        later = api.walk(feed.delta_link)
        assert set(later.ids) == {ids["A"], ids["B"], deep["id"], ids["x"]}
        assert "deleted" in later.last(ids["x"])
        assert "deleted" not in later.last(ids["A"])
        file_delta = api.http.get(item_url(ids["z"], "/delta"))
        assert_error(file_delta, 400, "invalidRequest")


def test_delta_exclude_parent_leaves_the_ancestors_out(api: Api) -> None:
    """With the ``deltaExcludeParent`` header (or as a ``Prefer`` token) only changed items
    come, without their ancestors (§2.2)."""
    container = api.folder("container")
    cursor = api.cursor()
    inner = api.folder("inner", container["id"])
    for headers in ({"deltaExcludeParent": "true"}, {"Prefer": "deltaExcludeParent"}):
        page = ok(api.http.get(cursor, headers=headers))
        assert [entry["id"] for entry in page["value"]] == [inner["id"]]
    assert set(api.walk(cursor).ids) == {api.root_id, container["id"], inner["id"]}
