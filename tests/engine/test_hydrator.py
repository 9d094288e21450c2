"""Hydration against the fake over loopback: bytes, ranges, resumes, failures, offline.

Each test runs a whole engine (:func:`tests.engine.bytes_support.mounted`) and reads through
``LocalOps`` as the FUSE layer would. What is asserted is what a user sees (the bytes, the
errno, the file's state) and what the server saw (its request log, which a client bug cannot
bend).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from urllib.parse import quote

import pytest
import trio

from onemount.engine.backoff import Backoff
from onemount.engine.errors import ContentOffline, EngineError, HydrationFailed
from onemount.engine.hydrator import BACKGROUND
from onemount.fakegraph import FaultRule
from onemount.quickxorhash import quickxorhash_b64
from tests.engine.bytes_support import Mount, mounted, quiet, with_config
from tests.engine.harness import served

MiB = 1 << 20


def content_path(mount: Mount, path: str) -> str:
    """The fake's path of an item's ``/content`` (what a rule or the log names)."""
    return f"/v1.0/me/drive/items/{quote(mount.remote_id(path), safe='!')}/content"


def test_a_ghost_file_reads_the_servers_bytes_and_is_then_cached(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 17)
    with served(tmp_path / "fake") as server:
        server.graph.drive.put_bytes(server.graph.drive.root_id, "a.bin", data)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                assert m.row("/a.bin")["state"] == "GHOST"
                assert await m.read("/a.bin") == data
                # The read of the end waited for the commit: a reader never sees the end of
                # bytes that were not verified, and the state says so at once.
                row = m.row("/a.bin")
                assert (row["state"], row["cached_hash"]) == ("HYDRATED", quickxorhash_b64(data))
                cache = m.engine.cache
                assert cache.content(row["ino"]).read_bytes() == data
                assert not os.listdir(cache.root / "partial")
                # A second read is served from the cache: no second download.
                assert await m.read("/a.bin") == data
                assert len(m.requests("GET", "/content")) == 1

        trio.run(main)


def test_a_reader_is_served_its_range_while_the_rest_arrives_and_a_drop_resumes(
    tmp_path: Path,
) -> None:
    data = os.urandom(24 * MiB)
    with served(tmp_path / "fake") as server:
        server.graph.drive.put_bytes(server.graph.drive.root_id, "big.bin", data)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                ino = m.ino("/big.bin")
                faults = server.graph.faults
                # The first answer dies after 8 MiB; the resumed one is held back 4 s.
                faults.add(FaultRule(path="/dl/*", drop="response", drop_after=8 * MiB))
                faults.add(FaultRule(path="/dl/*", latency=4.0))
                handle = await m.local.open(ino, write=False, truncate=False)
                first = await m.local.read(handle.fh, 0, 128 * 1024)
                assert first == data[: 128 * 1024]
                # Served while the download is still out: nothing is visible as complete.
                assert m.engine.hydrator.downloading(ino)
                assert m.row("/big.bin")["state"] == "HYDRATING"
                assert not m.engine.cache.content(ino).exists()
                tail = await m.local.read(handle.fh, 20 * MiB, 128 * 1024)
                assert tail == data[20 * MiB : 20 * MiB + 128 * 1024]
                await m.local.release(handle.fh)
                await m.engine.hydrator.idle()
                assert m.row("/big.bin")["state"] == "HYDRATED"
                assert m.engine.cache.content(ino).read_bytes() == data
                downloads = m.requests("GET", "/dl/")
                assert len(downloads) == 2
                assert downloads[0].range is None
                resumed = downloads[1].range
                assert resumed is not None and resumed.startswith("bytes=")
                offset = int(resumed.removeprefix("bytes=").rstrip("-"))
                print(f"resumed at byte {offset} of {len(data)}")
                assert 0 < offset <= 8 * MiB

        trio.run(main)


def test_two_readers_of_one_file_share_one_download(tmp_path: Path) -> None:
    data = os.urandom(6 * MiB)
    with served(tmp_path / "fake") as server:
        server.graph.drive.put_bytes(server.graph.drive.root_id, "shared.bin", data)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                results: list[bytes] = []

                async def reader() -> None:
                    results.append(await m.read("/shared.bin"))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader)
                    nursery.start_soon(reader)
                assert results == [data, data]
                assert len(m.requests("GET", "/content")) == 1

        trio.run(main)


def test_a_file_a_process_waits_for_goes_before_background_downloads(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        for name in ("first.bin", "later.bin", "wanted.bin"):
            drive.put_bytes(drive.root_id, name, name.encode() * 1000)

        async def main() -> None:
            config = with_config(download_workers=1)
            async with mounted(server, tmp_path / "cache", config) as m:
                await quiet(m)
                hydrator = m.engine.hydrator
                # The one worker is busy with "first" (held 1 s), "later" waits in the queue.
                server.graph.faults.add(FaultRule(path=content_path(m, "/first.bin"), latency=1.0))
                hydrator.request(m.ino("/first.bin"), priority=BACKGROUND)
                await m.sink.wait_inode(m.ino("/first.bin"))  # the worker took it
                hydrator.request(m.ino("/later.bin"), priority=BACKGROUND)
                assert await m.read("/wanted.bin") == b"wanted.bin" * 1000
                await hydrator.idle()
                order = [r.path for r in m.requests("GET", "/content")]
                expected = [content_path(m, f"/{n}.bin") for n in ("first", "wanted", "later")]
                assert order == expected

        trio.run(main)


def test_offline_a_ghost_file_fails_at_once_with_enetdown_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "cached.txt", b"read before")
        drive.put_bytes(drive.root_id, "ghost.txt", b"never read")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                assert await m.read("/cached.txt") == b"read before"
                await m.offline()
                ghost = m.ino("/ghost.txt")
                caplog.clear()
                with caplog.at_level(logging.WARNING, logger="onemount.engine"):
                    with trio.fail_after(1):  # at once: no wait for a download
                        with pytest.raises(ContentOffline) as refused:
                            await m.local.open(ghost, write=False, truncate=False)
                assert refused.value.errno == errno.ENETDOWN
                lines = [r.getMessage() for r in caplog.records]
                assert lines == ["/ghost.txt is not in the cache and the drive is offline"]
                assert m.row("/ghost.txt")["state"] == "GHOST"
                assert not m.engine.cache.content(ghost).exists()  # never an empty file
                assert not m.engine.files.is_open(ghost)
                # What is cached still reads.
                assert await m.read("/cached.txt") == b"read before"
                await m.online()
                assert await m.read("/ghost.txt") == b"never read"

        trio.run(main)


def test_a_download_made_stale_by_a_remote_change_is_refused_and_retried(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "report.txt", b"version one")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                # Changed on the server after we learnt of it: the download gets version two
                # while the row still names version one's hash.
                drive.put_bytes(drive.root_id, "report.txt", b"version two, longer")
                assert await m.read("/report.txt") == b"version two, longer"
                await m.engine.hydrator.idle()
                row = m.row("/report.txt")
                assert row["state"] == "HYDRATED"
                assert row["cached_hash"] == quickxorhash_b64(b"version two, longer")
                journal = m.engine.store.reader.execute(
                    "SELECT from_state, to_state FROM journal WHERE ino = ? AND"
                    " event = 'hydrate_succeeded' ORDER BY seq",
                    (row["ino"],),
                ).fetchall()
                assert journal[0] == ("HYDRATING", "HYDRATING")  # the stale one, refused
                assert journal[-1] == ("HYDRATING", "HYDRATED")

        trio.run(main)


def test_a_permanent_failure_is_error_with_its_reason_then_retried_after_a_backoff(
    tmp_path: Path,
) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "locked.txt", b"eventually")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                hydrator = m.engine.hydrator
                hydrator.draw = lambda: 0.0
                hydrator.failed_backoff = Backoff(base=0.3, cap=1.0)
                rule = FaultRule(path=content_path(m, "/locked.txt"), status=403, count=-1)
                server.graph.faults.add(rule)
                with pytest.raises(HydrationFailed) as failed:
                    await m.read("/locked.txt")
                assert failed.value.errno == errno.EIO
                row = m.row("/locked.txt")
                assert row["state"] == "ERROR"
                assert "refused" in row["last_error"]
                # Within the backoff, asking again fails at once, without a request.
                asked = len(m.requests("GET", "/content"))
                with pytest.raises(HydrationFailed):
                    await m.read("/locked.txt")
                assert len(m.requests("GET", "/content")) == asked
                server.graph.faults.clear()
                retry_at = hydrator.retry_at(row["ino"])
                assert retry_at is not None
                await trio.sleep_until(retry_at)
                assert await m.read("/locked.txt") == b"eventually"
                await hydrator.idle()
                assert m.row("/locked.txt")["state"] == "HYDRATED"

        trio.run(main)


def test_a_file_gone_from_the_server_fails_and_then_goes(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        item, _ = drive.put_bytes(drive.root_id, "gone.txt", b"soon gone")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                ino = m.ino("/gone.txt")
                drive.delete(item.id)
                with pytest.raises(EngineError) as failed:
                    await m.read("/gone.txt")
                assert failed.value.errno == errno.EIO
                await quiet(m)
                assert (
                    m.engine.store.reader.execute(
                        "SELECT 1 FROM items WHERE ino = ?", (ino,)
                    ).fetchone()
                    is None
                )

        trio.run(main)


def test_unmount_cancels_a_download_and_the_next_start_cleans_it_up(tmp_path: Path) -> None:
    data = os.urandom(2 * MiB)
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "slow.bin", data)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                ino = m.ino("/slow.bin")
                server.graph.faults.add(FaultRule(path="/dl/*", latency=60.0))
                m.engine.hydrator.request(ino, priority=BACKGROUND)
                await m.sink.wait_inode(ino)  # hydrate_requested: the download is out
                assert m.row("/slow.bin")["state"] == "HYDRATING"
                # Leaving the block aborts the engine: it must not wait for the download.
            server.graph.faults.clear()
            async with mounted(server, tmp_path / "cache") as m:
                assert m.row("/slow.bin")["state"] == "GHOST"
                assert not os.listdir(m.engine.cache.root / "partial")
                assert await m.read("/slow.bin") == data

        trio.run(main)
