"""DriveItem -> store entry: each decision of convert.py, from Graph's own JSON shapes.

The items are parsed by the Graph client from JSON as the service sends it (graph-api.md §1.2,
§2.2), then converted: what the store gets is asserted field by field.
"""

from __future__ import annotations

from typing import Any

from onemount.engine.convert import EMPTY_QUICKXORHASH, convert
from onemount.graph.items import parse_items
from onemount.store.events import RemoteDeletion, RemoteState

PARENT = {"id": "P", "driveId": "d"}


def _items(*values: dict[str, Any]) -> Any:
    parsed = parse_items(list(values))
    return convert(parsed.items, parsed.rejected)


def test_files_folders_and_tombstones() -> None:
    out = _items(
        {
            "id": "F",
            "name": "report.docx",
            "eTag": "e1",
            "cTag": "c1",
            "size": 48213,
            "parentReference": PARENT,
            "lastModifiedDateTime": "2024-05-02T10:11:12Z",
            "fileSystemInfo": {"lastModifiedDateTime": "2024-05-02T10:11:10Z"},
            "file": {"hashes": {"quickXorHash": "DQgYF0DhAVW7KjQ3FnO1nYkGf3A="}},
        },
        {
            "id": "D",
            "name": "Documents",
            "eTag": "e2",
            "cTag": "c2",  # personal: follows every descendant
            "size": 157286400,  # the subtree's total
            "parentReference": PARENT,
            "folder": {"childCount": 3},
        },
        {"id": "X", "deleted": {}, "file": {"hashes": {"quickXorHash": EMPTY_QUICKXORHASH}}},
        {"id": "E", "name": "empty.txt", "size": 0, "parentReference": PARENT, "file": {}},
        {"id": "R", "name": "root", "root": {}, "folder": {"childCount": 1}},
    )
    file, folder, gone, empty, root = out.entries
    assert file == RemoteState(
        id="F",
        name="report.docx",
        parent_id="P",
        kind="file",
        etag="e1",
        ctag="c1",
        hash="DQgYF0DhAVW7KjQ3FnO1nYkGf3A=",
        size=48213,
        mtime=1714644670.0,  # fileSystemInfo's, not the service's
    )
    assert isinstance(folder, RemoteState)
    assert (folder.kind, folder.size, folder.ctag, folder.hash) == ("folder", 0, None, None)
    assert gone == RemoteDeletion(id="X")
    assert isinstance(empty, RemoteState) and empty.hash == EMPTY_QUICKXORHASH
    assert isinstance(root, RemoteState) and root.parent_id is None
    assert out.rejected == [] and out.shared == 0


def test_a_onenote_notebook_is_a_folder_and_a_shared_item_is_not_shown() -> None:
    out = _items(
        {
            "id": "N",
            "name": "Notebook",
            "parentReference": PARENT,
            "package": {"type": "oneNote"},
            "size": 1000,
        },
        {
            "id": "S",
            "name": "Shared folder",
            "parentReference": PARENT,
            "folder": {"childCount": 0},
            "remoteItem": {"id": "other", "parentReference": {"driveId": "x"}, "folder": {}},
        },
    )
    (notebook,) = out.entries
    assert isinstance(notebook, RemoteState)
    assert (notebook.id, notebook.kind, notebook.size) == ("N", "folder", 0)
    assert out.shared == 1


def test_what_cannot_be_placed_is_rejected_with_its_id() -> None:
    out = _items(
        {"id": "U", "name": "no facet", "parentReference": PARENT},
        {"id": "O", "name": "orphan.txt", "file": {}},  # not the root, yet no parent
        {"id": "B", "name": "a/b", "parentReference": PARENT, "file": {}},  # the client refuses
    )
    assert out.entries == []
    assert sorted(r.id or "" for r in out.rejected) == ["B", "O", "U"]
    assert all(r.reason for r in out.rejected)
