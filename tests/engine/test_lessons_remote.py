"""Regression tests for the reference's lessons on the remote side (onemount-reference.md §9).

Each test is named after its lesson and asserts the rule the lesson gave for the rewrite; each
would fail on the reference's behaviour, which the docstring states. They run the real delta
loop against the fake on loopback.
"""

from __future__ import annotations

import time
from pathlib import Path

import trio

from onemount.fakegraph import FaultRule
from onemount.quickxorhash import quickxorhash_b64
from onemount.store import ROOT_INODE, queries
from tests.engine.delta_support import (
    admin,
    fake_tree,
    hydrated,
    ino_of,
    local_create,
    local_edit,
    remote,
    row_of,
    running,
    served_fake,
    store_tree,
    synced,
)


def test_L5_an_unchanged_etag_is_no_proof_of_hydration(tmp_path: Path) -> None:
    """Reference: a delta entry whose eTag had not changed marked the file HYDRATED, without
    bytes. Here a file delta brings is GHOST, and stays GHOST however often it is re-sent."""
    with served_fake(tmp_path / "fake", duplicate_delta=True, delta_page_size=1) as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                item = await fake.create("never opened.txt", text="bytes")
                await synced(loop)
                server.graph.drive.expire_delta_tokens()  # a resync sends everything again
                await synced(loop)
                row = row_of(ctx.store, ino_of(ctx.store, item["id"]))
                assert (row["state"], row["cached_hash"]) == ("GHOST", None)

        trio.run(main)


def test_L6_a_rename_or_move_is_not_a_content_change(tmp_path: Path) -> None:
    """Reference: the eTag changes on a rename, so a renamed file lost its cached bytes and a
    renamed dirty file became a spurious CONFLICT with its local bytes deleted. Here cTag and
    hash decide: the hydrated file keeps its bytes, the dirty file stays dirty."""
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                folder = await fake.create("Folder", folder=True)
                clean = await fake.create("clean.txt", text="c")
                dirty = await fake.create("dirty.txt", text="d")
                await synced(loop)
                clean_ino, dirty_ino = (
                    ino_of(ctx.store, clean["id"]),
                    ino_of(ctx.store, dirty["id"]),
                )
                await hydrated(ctx, clean_ino)
                await local_edit(ctx, dirty_ino, size=9)
                await fake.edit(clean["id"], name="clean, renamed.txt", parent=folder["id"])
                await fake.edit(dirty["id"], name="dirty, renamed.txt")
                await synced(loop)
                kept = row_of(ctx.store, clean_ino)
                assert (kept["state"], kept["cached_hash"]) == ("HYDRATED", quickxorhash_b64(b"c"))
                edited = row_of(ctx.store, dirty_ino)
                assert (edited["state"], edited["size"]) == ("DIRTY_LOCAL", 9)

        trio.run(main)


def test_L7_a_remote_delete_of_a_dirty_file_keeps_the_local_edit(tmp_path: Path) -> None:
    """Reference: the item was removed and its upload cancelled; the edit was orphaned."""
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                item = await fake.create("report.txt", text="v1")
                await synced(loop)
                ino = ino_of(ctx.store, item["id"])
                await local_edit(ctx, ino, size=11)
                await fake.delete(item["id"])
                await synced(loop)
                row = row_of(ctx.store, ino)
                assert (row["state"], row["size"], row["has_local_changes"]) == ("CONFLICT", 11, 1)
                assert row["name"] == "report.txt"

        trio.run(main)


def test_L8_children_before_parents_are_placed_and_nothing_is_skipped(tmp_path: Path) -> None:
    """Reference: a child whose parent came later in the batch was skipped for good, and the
    cursor moved past it. Here, pages of one entry in random order, a tree built at once."""
    with served_fake(tmp_path / "fake", shuffle_delta=True, delta_page_size=1) as server:
        drive = server.graph.drive

        async def main() -> None:
            async with remote(server, tmp_path / "m.db") as (ctx, loop), running(loop):
                with drive.batch():  # another device syncs a folder tree in one go
                    top = drive.create_folder(drive.root_id, "top")
                    mid = drive.create_folder(top.id, "mid")
                    low = drive.create_folder(mid.id, "low")
                    for parent in (top, mid, low):
                        for n in range(3):
                            drive.put_bytes(parent.id, f"{parent.name}-{n}.txt", b"x")
                await synced(loop)
                assert store_tree(ctx.store) == fake_tree(drive)
                held = ctx.store.reader.execute("SELECT count(*) FROM delta_held").fetchone()
                assert held == (0,)

        trio.run(main)


def test_L9_inode_numbers_are_stable_across_renames_moves_and_resyncs(tmp_path: Path) -> None:
    """Reference: every delta rebuilt and re-inserted the inode, with a new node id."""
    with served_fake(tmp_path / "fake", shuffle_delta=True) as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                a = await fake.create("A", folder=True)
                b = await fake.create("B", folder=True)
                f = await fake.create("f.txt", parent=a["id"], text="f")
                await synced(loop)
                before = {i: ino_of(ctx.store, i) for i in (a["id"], b["id"], f["id"])}
                await fake.edit(a["id"], name="A renamed")
                await fake.edit(f["id"], parent=b["id"])
                await synced(loop)
                server.graph.drive.expire_delta_tokens()
                await synced(loop)
                assert {i: ino_of(ctx.store, i) for i in before} == before

        trio.run(main)


def test_L10_paths_come_from_the_parent_chain(tmp_path: Path) -> None:
    """Reference: paths came from ``parentReference.path``, which delta omits (or, on personal
    drives, sends for the parent as it was): a folder's rename left its children's paths
    wrong. The fake sends that path here; a renamed folder's children are not re-sent."""
    with served_fake(tmp_path / "fake", delta_parent_path=True) as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                top = await fake.create("Old name", folder=True)
                sub = await fake.create("Sub", parent=top["id"], folder=True)
                leaf = await fake.create("leaf.txt", parent=sub["id"], text="l")
                await synced(loop)
                await fake.edit(top["id"], name="New name")
                await synced(loop)
                path = queries.path_of(ctx.store.reader, ino_of(ctx.store, leaf["id"]))
                assert path == "/New name/Sub/leaf.txt"

        trio.run(main)


def test_L26_remote_and_cached_hashes_are_kept_apart_and_refreshed(tmp_path: Path) -> None:
    """Reference: delta never copied the server's quickXorHash, so a stale hash failed the
    next download's check and a missing one made every cached file look stale."""
    with served_fake(tmp_path / "fake", mode="business") as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                item = await fake.create("data.bin", text="one")
                await synced(loop)
                ino = ino_of(ctx.store, item["id"])
                assert row_of(ctx.store, ino)["remote_hash"] == quickxorhash_b64(b"one")
                await hydrated(ctx, ino)
                await fake.edit(item["id"], name="data, renamed.bin")
                await synced(loop)
                row = row_of(ctx.store, ino)
                assert row["remote_hash"] == row["cached_hash"] == quickxorhash_b64(b"one")
                await fake.edit(item["id"], text="two")
                await synced(loop)
                row = row_of(ctx.store, ino)
                assert row["remote_hash"] == quickxorhash_b64(b"two")
                assert (row["state"], row["cached_hash"]) == ("GHOST", None)

        trio.run(main)


def test_L_pending_dir_a_listing_never_drops_what_was_created_here(tmp_path: Path) -> None:
    """Reference: a background refresh replaced a folder's children with Graph's list, which
    did not have the folder just made with ``mkdir`` yet: ``cp -r`` then failed with ENOENT."""
    with served_fake(tmp_path / "fake") as server:
        drive = server.graph.drive
        docs = drive.create_folder(drive.root_id, "Docs")
        drive.put_bytes(docs.id, "theirs.txt", b"t")

        async def main() -> None:
            # A first run, before the enumeration: Docs is listed on demand.
            async with remote(server, tmp_path / "m.db") as (ctx, loop):
                assert await loop.list_children(ROOT_INODE)
                docs_ino = ino_of(ctx.store, docs.id)
                mine = await local_create(ctx, docs_ino, "mkdir just now", kind="folder")
                assert await loop.list_children(docs_ino)
                async with running(loop):
                    await synced(loop)
                names = {e.name for e in queries.entries(ctx.store.reader, docs_ino)}
                assert names == {"theirs.txt", "mkdir just now"}
                assert row_of(ctx.store, mine)["state"] == "DIRTY_LOCAL"

        trio.run(main)


def test_L_listing_refresh_a_miss_looks_again_and_a_failure_keeps_what_is_known(
    tmp_path: Path,
) -> None:
    """Reference: a listing that missed a child stayed stale forever. Here a lookup that finds
    nothing rings for a delta; a refresh that fails keeps the store as it was."""
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                await fake.create("known.txt", text="k")
                await synced(loop)
                await fake.create("new elsewhere.txt", text="n")
                assert queries.lookup_ino(ctx.store.reader, ROOT_INODE, "new elsewhere.txt") is None
                loop.note_lookup_miss()  # what the FUSE layer does on ENOENT
                await ctx.sink.wait_for_name("new elsewhere.txt")
                known = store_tree(ctx.store)
                server.graph.faults.add(FaultRule(path="*", status=503, count=-1))
                loop.note_lookup_miss()
                failed = await loop.sync()
                assert failed.error is not None
                assert store_tree(ctx.store) == known

        trio.run(main)


def test_L_mount_timeout_with_metadata_the_mount_never_waits_on_graph(tmp_path: Path) -> None:
    """Reference: start-up waited on a slow Graph and missed the mount timeout."""
    db = tmp_path / "m.db"
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with remote(server, db) as (ctx, loop), running(loop):
                await synced(loop)
            server.graph.faults.add(FaultRule(path="*", latency=60.0, count=-1))
            started = time.monotonic()
            async with remote(server, db) as (ctx, loop):
                assert loop.mount_state == "SERVING"
                assert queries.root(ctx.store.reader) is not None
            assert time.monotonic() - started < 2.0

        trio.run(main)
