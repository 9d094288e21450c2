"""LocalOps, the FUSE layer's side of the engine: POSIX as a program sees it, the spec underneath.

Each test drives ``LocalOps`` directly against a whole engine on the fake, and checks what a
program would see (bytes, sizes, errnos), what the store recorded (its journal: which events,
how many) and what reached the server.
"""

from __future__ import annotations

import errno
import os
from datetime import datetime
from pathlib import Path

import pytest
import trio

from onemount.engine.errors import EngineError
from onemount.fakegraph import FaultRule
from onemount.store import ROOT_INODE, NameTaken, NotEmpty
from tests.engine.bytes_support import Mount, assert_trees_equal, mounted, quiet, with_config
from tests.engine.harness import served

MiB = 1 << 20


def events(mount: Mount, ino: int) -> list[str]:
    rows = mount.engine.store.reader.execute(
        "SELECT event FROM journal WHERE ino = ? AND machine = 'item' ORDER BY seq", (ino,)
    )
    return [str(e) for (e,) in rows]


def test_the_first_write_is_an_event_and_the_rest_are_coalesced(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "log.txt", b"start\n")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", with_config(upload_idle_delay=60)) as m:
                await quiet(m)
                ino = m.ino("/log.txt")
                handle = await m.local.open(ino, write=True, truncate=False)
                size = 6
                for n in range(200):
                    line = f"line {n}\n".encode()
                    assert await m.local.write(handle.fh, size, line) == len(line)
                    size += len(line)
                    attrs = m.local.attrs(ino)
                    assert attrs is not None and attrs.size == size  # what stat shows, at once
                assert events(m, ino).count("local_modified") == 1
                await m.local.release(handle.fh)
                row = m.row("/log.txt")
                assert (row["state"], row["size"]) == ("DIRTY_LOCAL", size)
                assert row["local_change_seq"] >= 2  # the later writes were noted
                await m.engine.outbox.drain()
                await quiet(m)
                tree = await assert_trees_equal(m)
                assert tree["/log.txt"].endswith(b"line 199\n")

        trio.run(main)


def test_o_trunc_and_truncate_to_zero_replace_a_ghost_without_a_download(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "a.txt", os.urandom(MiB))
        drive.put_bytes(drive.root_id, "b.txt", os.urandom(MiB))

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.overwrite("/a.txt", b"new a")
                await m.local.truncate(m.ino("/b.txt"), 0)
                assert events(m, m.ino("/a.txt"))[-1] == "local_overwritten"
                assert events(m, m.ino("/b.txt"))[-1] == "local_overwritten"
                await quiet(m)
                assert await assert_trees_equal(m) == {"/a.txt": b"new a", "/b.txt": b""}
                assert not m.requests("GET", "/content")  # nothing was downloaded

        trio.run(main)


def test_truncate_to_a_size_keeps_the_bytes_before_it(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB)
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "cut.bin", data)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.local.truncate(m.ino("/cut.bin"), 1000)
                await m.local.truncate(m.ino("/cut.bin"), 1500)  # grown again: zeros
                await quiet(m)
                tree = await assert_trees_equal(m)
                assert tree == {"/cut.bin": data[:1000] + bytes(500)}

        trio.run(main)


def test_a_deleted_file_stays_readable_and_writable_while_open(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "open.txt", b"still here")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                ino = m.ino("/open.txt")
                handle = await m.local.open(ino, write=True, truncate=False)
                await m.local.unlink(ROOT_INODE, "open.txt")
                assert await m.local.read(handle.fh, 0, 100) == b"still here"
                await m.local.write(handle.fh, 10, b", and more")
                assert await m.local.read(handle.fh, 0, 100) == b"still here, and more"
                assert m.engine.cache.content(ino).exists()
                await m.local.release(handle.fh)
                assert not m.engine.cache.content(ino).exists()  # gone with the last close
                await quiet(m)
                assert await assert_trees_equal(m) == {}

        trio.run(main)


def test_a_ghost_file_deleted_or_replaced_while_a_reader_waits_stays_readable(
    tmp_path: Path,
) -> None:
    """A reader that opened a GHOST file has no descriptor of its bytes yet: the delete (or a
    rename over it) must leave it what it opened, downloading or downloaded, until it closes."""
    data = {name: os.urandom(MiB) for name in ("slow.bin", "done.bin", "over.bin")}
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        for name, content in data.items():
            drive.put_bytes(drive.root_id, name, content)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                inos = {name: m.ino(f"/{name}") for name in data}
                # done.bin: downloaded before the delete, never read from yet
                done = await m.local.open(inos["done.bin"], write=False, truncate=False)
                await m.engine.hydrator.idle()
                # slow.bin and over.bin: still downloading when the name goes
                server.graph.faults.add(FaultRule(path="/dl/*", latency=0.5, count=2))
                readers = {
                    name: await m.local.open(inos[name], write=False, truncate=False)
                    for name in ("slow.bin", "over.bin")
                }
                readers["done.bin"] = done
                assert m.engine.hydrator.downloading(inos["slow.bin"])
                await m.local.unlink(ROOT_INODE, "slow.bin")
                await m.local.unlink(ROOT_INODE, "done.bin")
                await m.write("/new.bin", b"the new bytes")
                await m.local.rename(ROOT_INODE, "new.bin", ROOT_INODE, "over.bin", noreplace=False)
                for name, handle in readers.items():
                    assert await m.local.read(handle.fh, 0, 2 * MiB) == data[name], name
                    await m.local.release(handle.fh)
                await quiet(m)
                tree = await assert_trees_equal(m)
                assert tree == {"/over.bin": b"the new bytes"}

        trio.run(main)


def test_a_new_file_renamed_over_a_remote_one_keeps_its_id(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        item, _ = drive.put_bytes(drive.root_id, "doc.txt", b"old version")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", with_config(upload_idle_delay=60)) as m:
                await quiet(m)
                target = m.ino("/doc.txt")
                temp = await m.write("/.doc.txt.swp", b"new version")
                holder = await m.local.rename(
                    ROOT_INODE, ".doc.txt.swp", ROOT_INODE, "doc.txt", noreplace=False
                )
                assert holder == target  # the name keeps its inode...
                assert (
                    m.engine.store.reader.execute(
                        "SELECT 1 FROM items WHERE ino = ?", (temp,)
                    ).fetchone()
                    is None
                )  # ...and the temporary's row is gone
                assert await m.read("/doc.txt") == b"new version"
                await m.engine.outbox.drain()
                await quiet(m)
                assert await assert_trees_equal(m) == {"/doc.txt": b"new version"}
                assert m.row("/doc.txt")["remote_id"] == item.id  # the server's item, replaced
                assert drive.get(item.id).name == "doc.txt"
                assert not m.requests("DELETE", "/items/")  # nothing deleted on the server

        trio.run(main)


def test_an_uploaded_file_renamed_over_another_replaces_it(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        source, _ = drive.put_bytes(drive.root_id, "source.txt", b"source")
        drive.put_bytes(drive.root_id, "target.txt", b"target")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                moved = m.ino("/source.txt")
                holder = await m.local.rename(
                    ROOT_INODE, "source.txt", ROOT_INODE, "target.txt", noreplace=False
                )
                assert holder == moved
                await quiet(m)
                assert await assert_trees_equal(m) == {"/target.txt": b"source"}
                assert drive.get(source.id).name == "target.txt"

        trio.run(main)


def test_names_and_kinds_are_refused_as_posix_says(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.mkdir("/dir")
                await m.write("/dir/inside.txt", b"x")
                await m.write("/file.txt", b"y")
                with pytest.raises(EngineError) as refused:
                    await m.local.unlink(ROOT_INODE, "dir")
                assert refused.value.errno == errno.EISDIR
                with pytest.raises(EngineError) as refused:
                    await m.local.rmdir(ROOT_INODE, "file.txt")
                assert refused.value.errno == errno.ENOTDIR
                with pytest.raises(NotEmpty):
                    await m.local.rmdir(ROOT_INODE, "dir")
                with pytest.raises(NameTaken):
                    await m.local.rename(
                        ROOT_INODE, "file.txt", m.ino("/dir"), "inside.txt", noreplace=True
                    )
                with pytest.raises(EngineError) as refused:
                    await m.local.rename(ROOT_INODE, "file.txt", ROOT_INODE, "dir", noreplace=False)
                assert refused.value.errno == errno.EISDIR
                with pytest.raises(NameTaken):
                    await m.local.create(ROOT_INODE, "FILE.TXT", 0o644)  # OneDrive: one name
                await quiet(m)
                assert await assert_trees_equal(m) == {
                    "/dir": None,
                    "/dir/inside.txt": b"x",
                    "/file.txt": b"y",
                }

        trio.run(main)


def test_a_read_only_mount_refuses_every_change_and_still_reads(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "r.txt", b"readable")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", with_config(read_only=True)) as m:
                await quiet(m)
                ino = m.ino("/r.txt")
                refusals = [
                    m.local.open(ino, write=True, truncate=False),
                    m.local.create(ROOT_INODE, "new.txt", 0o644),
                    m.local.mkdir(ROOT_INODE, "new", 0o755),
                    m.local.unlink(ROOT_INODE, "r.txt"),
                    m.local.rename(ROOT_INODE, "r.txt", ROOT_INODE, "s.txt", noreplace=False),
                    m.local.truncate(ino, 0),
                    m.local.set_times(ino, mtime=1.0),
                ]
                for refusal in refusals:
                    with pytest.raises(EngineError) as refused:
                        await refusal
                    assert refused.value.errno == errno.EROFS
                assert await m.read("/r.txt") == b"readable"
                assert m.engine.pending_changes() == 0

        trio.run(main)


def test_set_times_is_kept_and_a_later_write_moves_it_on(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                ino, handle = await m.local.create(ROOT_INODE, "t.txt", 0o600)
                await m.local.write(handle.fh, 0, b"timed")
                await m.local.set_times(ino, mtime=1_000_000.0)  # cp -p, before the close
                await m.local.release(handle.fh)
                assert m.row("/t.txt")["mtime"] == 1_000_000.0
                await quiet(m)
                assert m.row("/t.txt")["mode"] == 0o600

        trio.run(main)


def _server_mtime(m: Mount, path: str) -> float:
    drive = m.server.graph.drive
    item = drive.resolve(drive.root_id, [part for part in path.split("/") if part])
    assert item.fs_modified is not None
    return datetime.fromisoformat(item.fs_modified.replace("Z", "+00:00")).timestamp()


def test_a_utime_of_items_the_server_has_reaches_it_and_outlives_the_echo(tmp_path: Path) -> None:
    """``touch -d`` of a GHOST file and of a folder: a move carries the times (no download),
    and the delta echo that follows leaves them as the user set them."""
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        folder = drive.create_folder(drive.root_id, "d")
        drive.put_bytes(folder.id, "a.txt", b"ghost")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.local.set_times(m.ino("/d/a.txt"), mtime=1_000_000.25)
                await m.local.set_times(m.ino("/d"), mtime=2_000_000.5)
                assert [m.row(p)["state"] for p in ("/d/a.txt", "/d")] == ["GHOST", "HYDRATED"]
                assert events(m, m.ino("/d"))[-1] == "local_times_changed"
                await quiet(m)  # the moves went, and a delta sync brought their echo back
                assert m.row("/d/a.txt")["mtime"] == 1_000_000.25
                assert m.row("/d")["mtime"] == 2_000_000.5
                assert _server_mtime(m, "/d/a.txt") == pytest.approx(1_000_000.25, abs=1e-3)
                assert _server_mtime(m, "/d") == pytest.approx(2_000_000.5, abs=1e-3)
                assert not m.requests("GET", "/content")  # a time needs no bytes
                assert (await m.read("/d/a.txt")) == b"ghost"

        trio.run(main)


def test_a_folder_filled_then_timed_keeps_its_time_as_rsync_leaves_it(tmp_path: Path) -> None:
    """rsync and ``cp -a`` set a folder's mtime after filling it, often while its mkdir is
    still on its way: the time reaches the server and the echoes of the mkdir and of the
    children's uploads do not take it back."""
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", with_config(upload_idle_delay=0)) as m:
                await quiet(m)
                early = await m.mkdir("/early")  # timed while its mkdir may be in flight
                await m.write("/early/x.txt", b"x")
                await m.local.set_times(early, mtime=1_500_000.0)
                late = await m.mkdir("/late")  # timed after its mkdir was answered
                await m.write("/late/y.txt", b"y")
                await m.engine.outbox.drain()
                await m.local.set_times(late, mtime=1_600_000.75)
                await quiet(m)
                for path, wanted in (("/early", 1_500_000.0), ("/late", 1_600_000.75)):
                    assert m.row(path)["mtime"] == wanted
                    assert _server_mtime(m, path) == pytest.approx(wanted, abs=1e-3)

        trio.run(main)


def test_new_content_from_elsewhere_brings_its_own_time_over_a_pending_utime(
    tmp_path: Path,
) -> None:
    """The user touched a file; before the move that carries the time went, another device
    saved new bytes: the new version's time wins, and the move does not put ours on it."""
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        item, _ = drive.put_bytes(drive.root_id, "n.txt", b"old")

        async def main() -> None:
            config = with_config(upload_idle_delay=3600)  # the move waits: quiet never comes
            async with mounted(server, tmp_path / "cache", config) as m:
                await quiet(m)
                await m.local.set_times(m.ino("/n.txt"), mtime=1_000_000.0)
                drive.replace_content(item.id, drive.write_blob(b"newer bytes"), if_match=None)
                await m.engine.delta.sync()
                theirs = _server_mtime(m, "/n.txt")
                assert m.row("/n.txt")["mtime"] == pytest.approx(theirs, abs=1e-3)
                await m.engine.outbox.drain()  # draining skips the idle delay
                assert _server_mtime(m, "/n.txt") == pytest.approx(theirs, abs=1e-3)
                assert (await m.read("/n.txt")) == b"newer bytes"

        trio.run(main)


def test_a_utime_of_the_drive_root_is_kept_here_and_queues_nothing(tmp_path: Path) -> None:
    """``rsync -a src/ mount/`` sets the times of ``.``: Graph does not let the root change,
    so nothing is queued that would be refused or retried forever."""
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.local.set_times(ROOT_INODE, mtime=1_000_000.0)
                assert m.row("/")["mtime"] == 1_000_000.0
                assert m.engine.pending_changes() == 0
                await quiet(m)
                assert not m.requests("PATCH", "/items/")

        trio.run(main)
