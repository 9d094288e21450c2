"""The outbox worker against the fake over loopback: what reaches the server, how, in what order.

Each test runs a whole engine and changes the drive through ``LocalOps``; the server's request
log says which requests were sent (one PUT or a session, how many PATCHes), and the fake's own
drive says what it holds. After each, once quiet, both trees hold the same bytes.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import trio

from onemount.fakegraph import FaultRule
from onemount.quickxorhash import quickxorhash_b64
from onemount.store import ROOT_INODE
from tests.engine.bytes_support import (
    QUICK,
    Mount,
    assert_trees_equal,
    conflict_copies,
    mounted,
    no_faults,
    quiet,
    remote_tree,
    with_config,
)
from tests.engine.harness import served

MiB = 1 << 20
FRAGMENT = 320 * 1024


def test_a_small_file_is_one_put_and_a_large_one_a_resumable_session(tmp_path: Path) -> None:
    small, large = b"small" * 100, os.urandom(2 * MiB + 5)
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            graph = {"simple_upload_limit": MiB, "fragment_size": 2 * FRAGMENT}
            # The idle delay lets each file be written whole before its upload starts.
            config = with_config(upload_idle_delay=0.5)
            async with mounted(server, tmp_path / "cache", config, **graph) as m:
                await quiet(m)
                await m.write("/small.txt", small)
                await m.write("/large.bin", large)
                await quiet(m)
                tree = await assert_trees_equal(m)
                assert tree == {"/small.txt": small, "/large.bin": large}
                assert len(m.requests("PUT", "small.txt:/content")) == 1
                assert len(m.requests("POST", "large.bin:/createUploadSession")) == 1
                fragments = m.requests("PUT", "/up/")
                assert len(fragments) == -(-len(large) // (2 * FRAGMENT))  # each sent once
                for path in ("/small.txt", "/large.bin"):
                    row = m.row(path)
                    assert row["state"] == "HYDRATED" and row["remote_id"] is not None
                    assert row["cached_hash"] == quickxorhash_b64(tree[path])
                # the snapshots are gone with their jobs
                assert not os.listdir(m.engine.cache.root / "snapshots")
                journal = m.engine.store.reader.execute(
                    "SELECT event, to_state FROM journal WHERE machine = 'upload' ORDER BY seq"
                ).fetchall()
                assert journal.count(("succeeded", "COMPLETED")) == 2

        trio.run(main)


def test_a_burst_of_writes_settles_into_one_upload_of_the_last_bytes(tmp_path: Path) -> None:
    delay = 0.5
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(
                server, tmp_path / "cache", with_config(upload_idle_delay=delay)
            ) as m:
                await quiet(m)
                ino = await m.write("/draft.txt", b"one")
                for text in (b"two", b"three", b"four, the last"):
                    handle = await m.local.open(ino, write=True, truncate=True)
                    await m.local.write(handle.fh, 0, text)
                    await m.local.release(handle.fh)
                closed = time.monotonic()
                with trio.fail_after(30):
                    while m.row("/draft.txt")["state"] != "HYDRATED":
                        await m.sink.wait_inode(ino)
                puts = m.requests("PUT", "draft.txt:/content")
                assert len(puts) == 1
                assert puts[0].at >= closed + delay - 0.05  # it waited for the burst to end
                assert m.drive.read_all(m.remote_id("/draft.txt")) == b"four, the last"
                journal = m.engine.store.reader.execute(
                    "SELECT event FROM journal WHERE ino = ? AND machine = 'item'", (ino,)
                ).fetchall()
                assert journal.count(("local_overwritten",)) == 3

        trio.run(main)


def test_a_tree_made_offline_is_replayed_parents_first(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.offline()
                await m.mkdir("/a")
                await m.mkdir("/a/b")
                await m.write("/a/b/deep.txt", b"deep")
                await m.write("/a/top.txt", b"top")
                assert m.engine.pending_changes() == 4
                await m.online()
                await quiet(m)
                tree = await assert_trees_equal(m)
                assert tree == {
                    "/a": None,
                    "/a/b": None,
                    "/a/b/deep.txt": b"deep",
                    "/a/top.txt": b"top",
                }
                assert m.engine.pending_changes() == 0

        trio.run(main)


def test_a_chain_of_renames_is_one_move(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        item, _ = drive.put_bytes(drive.root_id, "a.txt", b"kept")
        folder = drive.create_folder(drive.root_id, "dest")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", with_config(upload_idle_delay=0.3)) as m:
                await quiet(m)
                dest = m.ino("/dest")
                await m.local.rename(ROOT_INODE, "a.txt", ROOT_INODE, "b.txt", noreplace=False)
                await m.local.rename(ROOT_INODE, "b.txt", dest, "c.txt", noreplace=False)
                await m.local.rename(dest, "c.txt", dest, "final.txt", noreplace=False)
                await quiet(m)
                assert await assert_trees_equal(m) == {"/dest": None, "/dest/final.txt": b"kept"}
                moved = drive.get(item.id)
                assert (moved.name, moved.parent_id) == ("final.txt", folder.id)  # same item
                assert len(m.requests("PATCH", item.id.split("!")[-1])) == 1

        trio.run(main)


def test_deletes_reach_the_server(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        docs = drive.create_folder(drive.root_id, "docs")
        drive.put_bytes(docs.id, "one.txt", b"1")
        drive.put_bytes(drive.root_id, "two.txt", b"2")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.local.unlink(m.ino("/docs"), "one.txt")
                await m.local.rmdir(ROOT_INODE, "docs")
                await m.local.unlink(ROOT_INODE, "two.txt")
                await quiet(m)
                assert await assert_trees_equal(m) == {}

        trio.run(main)


def test_two_names_swapped_go_through_a_temporary_name(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        a, _ = drive.put_bytes(drive.root_id, "a.txt", b"was a")
        b, _ = drive.put_bytes(drive.root_id, "b.txt", b"was b")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.offline()  # so that the three renames are replayed, not sent one by one
                rename = m.local.rename
                await rename(ROOT_INODE, "a.txt", ROOT_INODE, "tmp", noreplace=False)
                await rename(ROOT_INODE, "b.txt", ROOT_INODE, "a.txt", noreplace=False)
                await rename(ROOT_INODE, "tmp", ROOT_INODE, "b.txt", noreplace=False)
                await m.online()
                await quiet(m)
                assert await assert_trees_equal(m) == {"/a.txt": b"was b", "/b.txt": b"was a"}
                assert (drive.get(a.id).name, drive.get(b.id).name) == ("b.txt", "a.txt")

        trio.run(main)


def test_a_new_name_taken_on_the_server_meanwhile_moves_ours_aside(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.offline()
                await m.write("/notes.txt", b"mine")
                drive.put_bytes(drive.root_id, "notes.txt", b"theirs")  # another device
                await m.online()
                await quiet(m)
                tree = await assert_trees_equal(m)
                assert tree["/notes.txt"] == b"theirs"
                (copy,) = conflict_copies(tree).items()
                assert copy[0].endswith(").txt") and copy[1] == b"mine"

        trio.run(main)


def test_a_folder_made_on_both_sides_is_merged(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.offline()
                await m.mkdir("/Photos")
                await m.write("/Photos/here.jpg", b"here")
                photos = drive.create_folder(drive.root_id, "Photos")
                drive.put_bytes(photos.id, "there.jpg", b"there")
                await m.online()
                await quiet(m)
                tree = await assert_trees_equal(m)
                assert tree == {
                    "/Photos": None,
                    "/Photos/here.jpg": b"here",
                    "/Photos/there.jpg": b"there",
                }
                assert m.row("/Photos")["remote_id"] == photos.id

        trio.run(main)


def test_a_rename_on_the_server_does_not_make_a_local_edit_a_conflict(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        item, _ = drive.put_bytes(drive.root_id, "old.txt", b"v1")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                assert await m.read("/old.txt") == b"v1"
                drive.update(item.id, name="new.txt", parent_id=None)  # the eTag changes
                await m.overwrite("/old.txt", b"v2 from here")  # sent with the old eTag
                await quiet(m)
                assert await assert_trees_equal(m) == {"/new.txt": b"v2 from here"}
                assert len(m.requests("PUT", "/content")) == 2  # the 412, then the replace

        trio.run(main)


def test_a_quota_refusal_is_error_with_the_bytes_kept(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        server.graph.drive.options.update({"quota_total": 1000})

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                data = os.urandom(5000)
                await m.write("/big.bin", data)
                await m.engine.outbox.drain()
                row = m.row("/big.bin")
                assert row["state"] == "ERROR"
                assert "quota" in row["last_error"].lower()
                assert await m.read("/big.bin") == data  # kept, readable
                assert m.engine.pending_changes() == 0  # nothing retried blindly

        trio.run(main)


def test_server_errors_are_retried_until_they_pass(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                # More failures than the client's own retries take: the job waits and retries.
                rule = FaultRule(path="*/persistent.txt:/content", status=503, count=6)
                server.graph.faults.add(rule)
                await m.write("/persistent.txt", b"never given up")
                await quiet(m, within=120)
                assert await assert_trees_equal(m) == {"/persistent.txt": b"never given up"}
                errors = m.engine.store.reader.execute(
                    "SELECT count(*) FROM journal WHERE machine = 'upload'"
                    " AND event = 'transient_error'"
                ).fetchone()
                assert errors is not None and errors[0] >= 1

        trio.run(main)


def test_shutdown_keeps_the_outbox_and_the_next_start_sends_it(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.offline()
                await m.write("/later.txt", b"sent next time")
                await m.mkdir("/folder")
                assert m.engine.pending_changes() == 2
            await trio.to_thread.run_sync(server.start)
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                assert await assert_trees_equal(m) == {
                    "/later.txt": b"sent next time",
                    "/folder": None,
                }
                assert m.engine.pending_changes() == 0

        trio.run(main)


def test_a_rename_while_the_move_is_in_flight_is_sent_after_it(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        item, _ = drive.put_bytes(drive.root_id, "a.txt", b"moved twice")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                server.graph.faults.add(FaultRule(path="*", method="PATCH", latency=0.5))
                await m.local.rename(ROOT_INODE, "a.txt", ROOT_INODE, "b.txt", noreplace=False)
                await m.engine.outbox.job_started()  # the first move is out
                await m.local.rename(ROOT_INODE, "b.txt", ROOT_INODE, "c.txt", noreplace=False)
                await quiet(m)
                assert await assert_trees_equal(m) == {"/c.txt": b"moved twice"}
                assert drive.get(item.id).name == "c.txt"
                assert len(m.requests("PATCH", "/items/")) == 2

        trio.run(main)


def _server_mtime(m: Mount, path: str) -> float:
    """The file's mtime as the server holds it (fileSystemInfo, what another device shows)."""
    stamp = m.drive.get(m.remote_id(path)).fs_modified
    assert stamp is not None
    return datetime.fromisoformat(stamp).timestamp()


def test_the_mtime_a_file_was_given_reaches_the_server_by_put_and_by_session(
    tmp_path: Path,
) -> None:
    """``cp -p``/``rsync -t``: a simple PUT cannot carry the time, so one PATCH follows it;
    a session carries it at creation. The delta echo then keeps it here too."""
    files = {
        "/put.txt": (b"kept across mounts\n", 1_500_000_000.0),
        "/session.bin": (os.urandom(2 * MiB + 5), 1_400_000_000.5),
    }
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            graph = {"simple_upload_limit": MiB, "fragment_size": 2 * FRAGMENT}
            # Nothing is sent before drain(): each file is uploaded once, with its final mtime.
            config = with_config(upload_idle_delay=600)
            async with mounted(server, tmp_path / "cache", config, **graph) as m:
                await quiet(m)
                for path, (data, mtime) in files.items():
                    ino, handle = await m.local.create(ROOT_INODE, path[1:], 0o644)
                    await m.local.write(handle.fh, 0, data)
                    await m.local.release(handle.fh)
                    await m.local.set_times(ino, mtime=mtime)
                await quiet(m)
                assert await assert_trees_equal(m) == {p: d for p, (d, _) in files.items()}
                for path, (_, mtime) in files.items():
                    assert _server_mtime(m, path) == mtime
                    row = m.row(path)
                    assert (row["state"], row["mtime"]) == ("HYDRATED", mtime)  # echo seen
                put_id = m.remote_id("/put.txt").split("!")[-1]
                session_id = m.remote_id("/session.bin").split("!")[-1]
                assert len(m.requests("PATCH", put_id)) == 1
                assert not m.requests("PATCH", session_id)

        trio.run(main)


def test_an_mtime_patch_that_fails_for_now_is_sent_again(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.offline()  # the file is sent once it is complete, with its mtime
                ino, handle = await m.local.create(ROOT_INODE, "old.txt", 0o644)
                await m.local.write(handle.fh, 0, b"from 2017")
                await m.local.release(handle.fh)
                await m.local.set_times(ino, mtime=1_500_000_000.0)
                # More 503s than the client's own retries: the job itself fails and goes again.
                fault = FaultRule(method="PATCH", status=503, count=QUICK.max_attempts)
                server.graph.faults.add(fault)
                with no_faults(server):
                    await m.online()
                    await quiet(m)
                assert fault.hits == QUICK.max_attempts
                assert await assert_trees_equal(m) == {"/old.txt": b"from 2017"}
                assert _server_mtime(m, "/old.txt") == 1_500_000_000.0
                row = m.row("/old.txt")
                assert (row["state"], row["mtime"]) == ("HYDRATED", 1_500_000_000.0)
                patches = m.requests("PATCH", m.remote_id("/old.txt").split("!")[-1])
                assert [r.status for r in patches] == [503] * QUICK.max_attempts + [200]
                assert conflict_copies(remote_tree(m.drive)) == {}

        trio.run(main)
