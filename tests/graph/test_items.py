"""Parsing Graph's JSON into DriveItem: real payload shapes in, unsafe or malformed ones refused."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from onemount.graph.errors import MalformedResponse
from onemount.graph.items import (
    ItemKind,
    RejectedItem,
    parse_drive,
    parse_item,
    parse_items,
    parse_upload_status,
)

DRIVE_ID = "b!xA9hqR7mT0OL6Gku8YbuzTJ8oZmRnQZJu6-yDL49Zc5MccrHbuT0R4QUwIzUvbJY"
BUSINESS_FILE = {
    "id": "01NKDM7HMOJTVYMDOSXFDK2QJDXCDI3WUK",
    "name": "report.docx",
    "eTag": '"{86EB4C8E-D20D-46B9-AD41-23B8868DDA8A},3"',
    "cTag": '"c:{86EB4C8E-D20D-46B9-AD41-23B8868DDA8A},2"',
    "size": 48213,
    "createdDateTime": "2024-05-01T09:00:00Z",
    "lastModifiedDateTime": "2024-05-02T10:11:12.5230000Z",
    "fileSystemInfo": {
        "createdDateTime": "2024-04-30T08:00:00Z",
        "lastModifiedDateTime": "2024-05-02T10:11:10Z",
    },
    "parentReference": {
        "driveId": DRIVE_ID,
        "driveType": "business",
        "id": "01NKDM7HLZ5B5VQ3AH5FBKWLXQ2Z7S3X4Q",
        "path": "/drive/root:/Documents",
    },
    "file": {
        "mimeType": "application/msword",
        "hashes": {"quickXorHash": "DQgYF0DhAVW7KjQ3FnO1nYkGf3A="},
    },
    "@microsoft.graph.downloadUrl": "https://contoso-my.sharepoint.com/download.aspx?tempauth=x",
    "someFutureField": {"ignored": True},
}


def test_a_business_file_keeps_both_tags_the_hash_and_both_clocks() -> None:
    item = parse_item(BUSINESS_FILE)
    assert item.kind is ItemKind.FILE and item.is_file
    assert item.name == "report.docx"
    assert item.etag == BUSINESS_FILE["eTag"] and item.ctag == BUSINESS_FILE["cTag"]
    assert item.quick_xor_hash == "DQgYF0DhAVW7KjQ3FnO1nYkGf3A="
    assert item.size == 48213 and item.mime_type == "application/msword"
    assert item.parent_id == "01NKDM7HLZ5B5VQ3AH5FBKWLXQ2Z7S3X4Q" and item.drive_id == DRIVE_ID
    assert item.modified == datetime(2024, 5, 2, 10, 11, 12, 523000, tzinfo=UTC)
    assert item.fs_modified == datetime(2024, 5, 2, 10, 11, 10, tzinfo=UTC)
    assert not item.deleted and not item.is_root


def test_the_root_and_a_folder() -> None:
    root = parse_item(
        {"id": "R", "name": "root", "root": {}, "folder": {"childCount": 2}, "size": 9}
    )
    assert root.is_root and root.is_folder and root.child_count == 2 and root.parent_id is None


def test_a_minimal_delete_and_a_business_delete() -> None:
    minimal = parse_item({"id": "X", "deleted": {}})
    assert minimal.deleted and minimal.name is None and minimal.kind is ItemKind.UNKNOWN
    business = parse_item(
        {
            "id": "01D6",
            "deleted": {"state": "deleted"},
            "file": {"hashes": {"quickXorHash": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
            "size": 0,
            "parentReference": {"driveId": DRIVE_ID, "id": "01P"},
            "createdDateTime": "0001-01-01T00:00:00Z",
        }
    )
    assert business.deleted and business.is_file and business.parent_id == "01P"
    assert business.quick_xor_hash is None  # the all-zero hash of a tombstone means nothing


def test_a_onenote_package_is_neither_file_nor_folder() -> None:
    item = parse_item({"id": "P", "name": "Notes", "package": {"type": "oneNote"}})
    assert item.kind is ItemKind.PACKAGE and item.package_type == "oneNote"


def test_a_shared_folder_added_to_the_drive() -> None:
    item = parse_item(
        {
            "id": "L",
            "name": "Shared",
            "folder": {"childCount": 0},
            "remoteItem": {
                "id": "REMOTE!12",
                "name": "Shared",
                "folder": {"childCount": 4},
                "parentReference": {"driveId": "abc123"},
            },
        }
    )
    assert item.remote is not None
    assert (item.remote.id, item.remote.drive_id, item.remote.kind) == (
        "REMOTE!12",
        "abc123",
        ItemKind.FOLDER,
    )


UNSAFE_NAMES = ["", ".", "..", "a/b", "../etc", "nul\0byte", "/", "lone\ud800surrogate"]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_a_name_that_could_escape_its_folder_is_refused(name: str) -> None:
    with pytest.raises(MalformedResponse) as raised:
        parse_item({"id": "X", "name": name, "file": {}})
    assert repr(name) in str(raised.value)  # the reason names the name
    with pytest.raises(MalformedResponse):
        parse_item({"id": "X", "name": "ok", "remoteItem": {"id": "Y", "name": name}})


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "item",
        {"name": "no id"},
        {"id": "", "name": "empty id"},
        {"id": 7, "name": "numeric id"},
        {"id": "X"},  # live, nameless
        {"id": "X", "name": "n", "size": -1},
        {"id": "X", "name": "n", "size": True},
        {"id": "X", "name": "n", "size": "12"},
        {"id": "X", "name": "n", "file": []},
        {"id": "X", "name": "n", "eTag": 3},
        {"id": "X", "name": "n", "lastModifiedDateTime": "yesterday"},
        {"id": "X", "name": "n", "lastModifiedDateTime": "2024-05-02T10:11:12"},  # no zone
        {"id": "X", "name": "n", "parentReference": "root"},
    ],
)
def test_malformed_items_are_a_typed_error_never_a_key_error(data: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_item(data)


def live(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "name": f"{item_id}.txt", "file": {}}


def test_one_malformed_item_in_a_page_is_rejected_and_the_others_kept_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused page would be served again and again (the cursor cannot move past it), so
    one bad element costs only itself: it is logged once, with its id and the reason."""
    secret_looking = "x" * 5000  # a large element: its JSON must not reach the log
    bad = {"id": "BAD", "name": "n", "size": -1, "description": secret_looking}
    with caplog.at_level(logging.WARNING, logger="onemount.graph.items"):
        parsed = parse_items([live("A"), live("B"), bad, live("C"), live("D")])
    assert [item.id for item in parsed.items] == ["A", "B", "C", "D"]
    assert parsed.rejected == (RejectedItem("BAD", "'size' is not a non-negative integer"),)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "BAD" in message and "'size' is not a non-negative integer" in message
    assert secret_looking not in message and "description" not in message


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_an_unsafe_server_name_rejects_the_item_not_the_page(name: str) -> None:
    parsed = parse_items([live("A"), {"id": "X", "name": name, "folder": {}}, live("B")])
    assert [item.id for item in parsed.items] == ["A", "B"]
    (rejected,) = parsed.rejected
    assert rejected.id == "X" and repr(name) in rejected.reason


def test_a_rejected_element_keeps_its_id_only_when_it_can_be_read() -> None:
    parsed = parse_items(
        [
            "not an object",
            {"name": "no id"},
            {"id": 7, "name": "numeric id"},
            {"id": "", "name": "empty id"},
            {"id": "Y"},  # live and nameless
            None,
        ]
    )
    assert parsed.items == []
    assert [r.id for r in parsed.rejected] == [None, None, None, None, "Y", None]
    assert all(r.reason for r in parsed.rejected)


def test_a_page_whose_value_is_not_a_list_is_refused_whole() -> None:
    values: tuple[Any, ...] = ({"value": []}, None, "items", 3)
    for value in values:
        with pytest.raises(MalformedResponse, match="'value' is not a list"):
            parse_items(value)
    assert parse_items([]).items == [] and parse_items([]).rejected == ()


def test_drive_and_quota() -> None:
    drive = parse_drive(
        {
            "id": "0123456789abcdef",
            "driveType": "personal",
            "quota": {
                "deleted": 30768061084,
                "remaining": 999186144995,
                "state": "normal",
                "total": 1099511627776,
                "used": 56556199473,
            },
        }
    )
    assert (
        drive.quota is not None
        and drive.quota.remaining == 999186144995
        and drive.quota.state == "normal"
    )


def test_upload_status_ranges() -> None:
    status = parse_upload_status(
        {
            "expirationDateTime": "2015-01-29T09:21:55.523Z",
            "nextExpectedRanges": ["77829-99375", "12345-55232"],
        }
    )
    assert status.next_expected == ((12345, 55232), (77829, 99375))
    assert status.next_offset == 12345
    assert parse_upload_status({"nextExpectedRanges": ["26-"]}).next_expected == ((26, None),)
    for bad in (["x-"], ["5-2"], "0-", [7]):
        with pytest.raises(MalformedResponse):
            parse_upload_status({"nextExpectedRanges": bad})
