"""Graph behaviours the client relies on, run against every backend (see conftest.py).

Each test works inside its own scratch folder and uses only the public client API, so the same
test holds the fake and the real Graph to the same contract. Behaviours that need a second
device, expired cursors or injected faults are fake-only and live in tests/graph/test_faults.py.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from onemount.graph import (
    DriveItem,
    FileTimes,
    GraphClient,
    InvalidName,
    NameConflict,
    NewItem,
    NotFound,
    PreconditionFailed,
    Replace,
)
from onemount.quickxorhash import hash_file, quickxorhash_b64
from tests.contract.conftest import Backend, eventually

UNIT = 320 * 1024


async def put_file(
    graph: GraphClient, parent: DriveItem, name: str, data: bytes, tmp: Path
) -> DriveItem:
    source = tmp / f"src-{name}"
    source.write_bytes(data)
    return await graph.upload(source, NewItem(parent.id, name))


def test_the_drive_reports_its_quota(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        drive = await graph.drive()
        assert drive.id and drive.quota is not None
        assert drive.quota.total is None or drive.quota.total >= (drive.quota.used or 0)

    backend.run(check)


def test_a_small_file_round_trips_with_its_hash(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        data = os.urandom(100_000)
        item = await put_file(graph, scratch, "small.bin", data, tmp)
        assert item.is_file and item.size == len(data) and item.parent_id == scratch.id
        assert item.quick_xor_hash == quickxorhash_b64(data)
        assert item.etag and item.ctag
        done = await graph.download(item.id, tmp / "out.bin", expected_hash=item.quick_xor_hash)
        assert done.path.read_bytes() == data

    backend.run(check)


def test_an_empty_file_is_created(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        item = await put_file(graph, scratch, "empty.txt", b"", tmp)
        assert item.size == 0 and item.is_file

    backend.run(check)


def test_a_new_item_never_overwrites_an_existing_name(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        first = await put_file(graph, scratch, "Same.txt", b"first", tmp)
        with pytest.raises(NameConflict):
            await put_file(graph, scratch, "same.TXT", b"second", tmp)  # names ignore case
        assert (await graph.item(first.id)).size == len(b"first")
        with pytest.raises(NameConflict):
            await graph.create_folder(scratch.id, "SAME.txt")

    backend.run(check)


def test_replace_needs_the_current_tag(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        item = await put_file(graph, scratch, "doc.txt", b"version 1", tmp)
        source = tmp / "v2"
        source.write_bytes(b"version 2!")
        second = await graph.upload(source, Replace(item.id, item.etag or ""))
        assert second.id == item.id and second.etag != item.etag and second.size == 10
        assert second.ctag != item.ctag  # content changed
        source.write_bytes(b"version 3 from a stale view")
        with pytest.raises(PreconditionFailed):
            await graph.upload(source, Replace(item.id, item.etag or ""))
        assert (await graph.item(item.id)).quick_xor_hash == second.quick_xor_hash

    backend.run(check)


def test_an_upload_session_keeps_file_times_and_bytes(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        source = tmp / "session.bin"
        source.write_bytes(os.urandom(2 * UNIT + 12_345))
        mtime = datetime(2023, 7, 14, 9, 30, 0, tzinfo=UTC)
        item = await graph.upload(
            source, NewItem(scratch.id, "session.bin"), times=FileTimes(modified=mtime)
        )
        assert item.size == source.stat().st_size
        assert item.quick_xor_hash == hash_file(source)
        assert item.fs_modified == mtime

    backend.run(check, fragment_size=UNIT, simple_upload_limit=0)


def test_a_session_replace_needs_the_current_tag(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        item = await put_file(graph, scratch, "big.bin", b"small at first", tmp)
        source = tmp / "grown.bin"
        source.write_bytes(os.urandom(UNIT + 1))
        grown = await graph.upload(source, Replace(item.id, item.etag or ""))
        assert grown.id == item.id and grown.size == UNIT + 1
        with pytest.raises(PreconditionFailed):
            await graph.upload(source, Replace(item.id, item.etag or ""))

    backend.run(check, fragment_size=UNIT, simple_upload_limit=0)


def test_children_come_in_pages(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        names = {f"child-{n}.txt" for n in range(5)}
        for name in names:
            await put_file(graph, scratch, name, name.encode(), tmp)
        await graph.create_folder(scratch.id, "sub")
        pages = [page async for page in graph.children(scratch.id)]
        assert len(pages) >= 3  # page size 2 in this backend config
        listed = [item for page in pages for item in page.items]
        assert {i.name for i in listed} == names | {"sub"}
        assert all(i.parent_id == scratch.id for i in listed)

    backend.run(check, children_page_size=2)


def test_paths_are_case_insensitive_and_encoded_per_segment(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        folder = await graph.create_folder(scratch.id, "Ünïcode #1 & more%")
        item = await put_file(graph, folder, "Notes 100%.txt", b"x", tmp)
        path = f"/{scratch.name}/ünïcode #1 & MORE%/notes 100%.TXT"
        assert (await graph.item_by_path(path)).id == item.id

    backend.run(check)


def test_rename_and_move_keep_the_id(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        item = await put_file(graph, scratch, "a.txt", b"a", tmp)
        other = await graph.create_folder(scratch.id, "other")
        renamed = await graph.move(item.id, name="b.txt", if_match=item.etag)
        assert (renamed.id, renamed.name) == (item.id, "b.txt") and renamed.etag != item.etag
        moved = await graph.move(item.id, parent_id=other.id)
        assert moved.parent_id == other.id and moved.id == item.id
        await put_file(graph, other, "c.txt", b"c", tmp)
        with pytest.raises(NameConflict):
            await graph.move(item.id, name="C.txt")
        with pytest.raises(PreconditionFailed):
            await graph.move(item.id, name="d.txt", if_match=item.etag)

    backend.run(check)


def test_delete_honours_if_match_and_the_item_is_gone(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        item = await put_file(graph, scratch, "doomed.txt", b"bye", tmp)
        renamed = await graph.move(item.id, name="doomed2.txt")
        with pytest.raises(PreconditionFailed):
            await graph.delete(item.id, if_match=item.etag)
        await graph.delete(item.id, if_match=renamed.etag)
        with pytest.raises(NotFound):
            await graph.item(item.id)

    backend.run(check)


def test_invalid_names_are_refused_by_the_service(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        for name in ("a<b", "trailing.", "CON", "what?"):
            with pytest.raises(InvalidName):
                await graph.create_folder(scratch.id, name)

    backend.run(check)


def test_a_missing_item_is_not_found(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        with pytest.raises(NotFound):
            await graph.item_by_path(f"/{scratch.name}/never-created.txt")

    backend.run(check)


def test_delta_from_latest_reports_new_and_deleted_items(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        cursor = await graph.latest_cursor()
        item = await put_file(graph, scratch, "fresh.txt", b"fresh", tmp)

        async def changes() -> dict[str, DriveItem]:
            pages = graph.delta(cursor)
            seen = {i.id: i for i in await pages.all_items()}
            assert pages.delta_link
            return seen

        seen = await eventually(changes, lambda s: item.id in s)
        assert seen[item.id].name == "fresh.txt" and not seen[item.id].deleted
        assert seen[item.id].quick_xor_hash == item.quick_xor_hash
        assert scratch.id in seen  # ancestors come along

        await graph.delete(item.id)
        seen = await eventually(changes, lambda s: item.id in s and s[item.id].deleted)
        assert seen[item.id].deleted

    backend.run(check)


def test_a_full_enumeration_ends_with_a_cursor(backend: Backend) -> None:
    async def check(graph: GraphClient, scratch: DriveItem, tmp: Path) -> None:
        await put_file(graph, scratch, "in-scratch.txt", b"x", tmp)
        pages = graph.delta()
        items = {i.id: i for i in await pages.all_items()}
        assert pages.delta_link is not None
        assert any(i.is_root for i in items.values()) and scratch.id in items
        # Nothing changed since: the cursor yields no live change in our scratch folder.
        after = await graph.delta(pages.delta_link).all_items()
        assert not [i for i in after if i.parent_id == scratch.id]

    backend.run(check)
