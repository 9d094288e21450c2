"""The content cache against the fake: limits, least recently used first, what is never evicted,
pins, and the files a crash can leave behind.

Sizes are small (a few MiB) and the limits set to match; the free-space floor is off (the
tests cannot control the disk), except where a test sets it.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

import pytest
import trio

from onemount.engine.content import ContentCache
from onemount.engine.errors import CacheFull
from onemount.store import ROOT_INODE
from tests.engine.bytes_support import Mount, assert_trees_equal, mounted, quiet, with_config
from tests.engine.harness import served

MiB = 1 << 20


def states(mount: Mount, *names: str) -> list[str]:
    return [str(mount.row(f"/{name}")["state"]) for name in names]


def test_the_least_recently_used_files_are_evicted_first(tmp_path: Path) -> None:
    blobs = {name: os.urandom(MiB) for name in "abcde"}
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        for name, data in blobs.items():
            drive.put_bytes(drive.root_id, name, data)

        async def main() -> None:
            limit = 4 * MiB + MiB // 2
            async with mounted(
                server, tmp_path / "cache", with_config(cache_limit_bytes=limit)
            ) as m:
                await quiet(m)
                for name in "abcd":
                    assert await m.read(f"/{name}") == blobs[name]
                    await m.engine.hydrator.idle()
                assert await m.read("/a") == blobs["a"]  # a is now the most recent
                assert await m.read("/e") == blobs["e"]  # needs room: b, then c, go
                await m.engine.hydrator.idle()
                assert states(m, *"abcde") == ["HYDRATED", "GHOST", "GHOST", "HYDRATED", "HYDRATED"]
                assert not m.engine.cache.content(m.ino("/b")).exists()
                assert m.engine.content.usage().used_bytes <= limit
                assert await m.read("/b") == blobs["b"]  # evicted is not lost

        trio.run(main)


def test_pinned_open_and_unsent_files_are_never_evicted(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        for name in ("pinned", "open", "wanted"):
            drive.put_bytes(drive.root_id, name, os.urandom(MiB))

        async def main() -> None:
            # The idle delay keeps the new file unsent for the whole test.
            config = with_config(cache_limit_bytes=3 * MiB + 1000, upload_idle_delay=600)
            async with mounted(server, tmp_path / "cache", config) as m:
                await quiet(m)
                await m.local.set_pinned(m.ino("/pinned"), True)
                await m.engine.content.swept()
                await m.engine.hydrator.idle()
                handle = await m.local.open(m.ino("/open"), write=False, truncate=False)
                await m.local.read(handle.fh, 0, MiB)
                await m.engine.hydrator.idle()
                await m.write("/unsent", os.urandom(MiB))
                with pytest.raises(CacheFull) as full:
                    await m.read("/wanted")
                assert full.value.errno == errno.ENOSPC
                assert states(m, "pinned", "open", "unsent", "wanted") == [
                    "HYDRATED",
                    "HYDRATED",
                    "DIRTY_LOCAL",
                    "GHOST",
                ]
                await m.local.release(handle.fh)  # closed: it may go now
                assert len(await m.read("/wanted")) == MiB
                assert states(m, "open") == ["GHOST"]

        trio.run(main)


def test_the_sweep_brings_the_cache_back_under_a_lowered_limit(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        for name in "xyz":
            drive.put_bytes(drive.root_id, name, os.urandom(MiB))

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                for name in "xyz":
                    await m.read(f"/{name}")
                    await m.engine.hydrator.idle()
                m.engine.config = dataclasses.replace(m.engine.config, cache_limit_bytes=MiB)
                await m.engine.content.swept()
                assert states(m, *"xyz") == ["GHOST", "GHOST", "HYDRATED"]

        trio.run(main)


def test_a_pinned_folder_is_hydrated_and_kept_current(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        docs = drive.create_folder(drive.root_id, "Docs")
        sub = drive.create_folder(docs.id, "sub")
        drive.put_bytes(docs.id, "one.txt", b"one")
        deep, _ = drive.put_bytes(sub.id, "deep.txt", b"deep")
        drive.put_bytes(drive.root_id, "outside.txt", b"not pinned")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.local.set_pinned(m.ino("/Docs"), True)
                await m.engine.content.swept()
                await m.engine.hydrator.idle()
                assert m.row("/Docs/one.txt")["state"] == "HYDRATED"
                assert m.row("/Docs/sub/deep.txt")["state"] == "HYDRATED"
                assert m.row("/outside.txt")["state"] == "GHOST"
                # A new file under the pinned folder, on another device: pinned and fetched.
                drive.put_bytes(sub.id, "new.txt", b"arrived later")
                await quiet(m)
                await m.engine.content.swept()
                await m.engine.hydrator.idle()
                new = m.row("/Docs/sub/new.txt")
                assert (new["pinned"], new["state"]) == (1, "HYDRATED")
                # A pinned file changed on the server is fetched again, not left a ghost.
                drive.replace_content(
                    deep.id, drive.write_blob(b"deep, version two"), if_match=None
                )
                await quiet(m)
                await m.engine.hydrator.idle()
                row = m.row("/Docs/sub/deep.txt")
                assert row["state"] == "HYDRATED"
                assert m.engine.cache.content(row["ino"]).read_bytes() == b"deep, version two"
                # Made here, in a pinned folder: pinned too.
                await m.write("/Docs/local.txt", b"local")
                assert m.row("/Docs/local.txt")["pinned"] == 1
                # Unpinned, the folder's files may be evicted again.
                await m.local.set_pinned(m.ino("/Docs"), False)
                assert m.row("/Docs/sub/deep.txt")["pinned"] == 0
                await quiet(m)
                await assert_trees_equal(m)

        trio.run(main)


def test_stale_cache_files_are_swept_but_not_while_open(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        item, _ = drive.put_bytes(drive.root_id, "f.txt", b"version one")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                ino = m.ino("/f.txt")
                assert await m.read("/f.txt") == b"version one"
                await m.engine.hydrator.idle()
                handle = await m.local.open(ino, write=False, truncate=False)
                drive.replace_content(item.id, drive.write_blob(b"version two"), if_match=None)
                await quiet(m)
                assert m.row("/f.txt")["state"] == "GHOST"
                await m.engine.content.swept()
                assert m.engine.cache.content(ino).exists()  # a reader holds it
                assert await m.local.read(handle.fh, 0, 100) == b"version one"  # as opened
                await m.local.release(handle.fh)
                assert not m.engine.cache.content(ino).exists()
                stray = m.engine.cache.content(999_999)
                stray.write_bytes(b"left by a crash")
                await m.engine.content.swept()
                assert not stray.exists()
                assert await m.read("/f.txt") == b"version two"

        trio.run(main)


def test_a_crash_between_a_rename_over_and_its_file_move_is_finished_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "doc.txt", b"old")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", with_config(upload_idle_delay=600)) as m:
                await quiet(m)
                await m.write("/.doc.tmp", b"new")
                # The process dies right after the commit, before the file is moved into place.
                with monkeypatch.context() as patch:
                    patch.setattr(ContentCache, "unstage", lambda self, ino, source: None)
                    await m.local.rename(
                        ROOT_INODE, ".doc.tmp", ROOT_INODE, "doc.txt", noreplace=False
                    )
            async with mounted(server, tmp_path / "cache") as m:
                assert await m.read("/doc.txt") == b"new"
                await quiet(m)
                assert await assert_trees_equal(m) == {"/doc.txt": b"new"}

        trio.run(main)


def test_at_start_a_cached_file_whose_bytes_are_gone_is_a_ghost_again(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "g.txt", b"downloaded once")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await m.read("/g.txt")
                await m.engine.hydrator.idle()
                ino = m.ino("/g.txt")
            (tmp_path / "cache" / "content" / str(ino)).unlink()  # someone cleaned the cache
            async with mounted(server, tmp_path / "cache") as m:
                assert m.row("/g.txt")["state"] == "GHOST"
                assert await m.read("/g.txt") == b"downloaded once"

        trio.run(main)
