"""The must-show fault runs: the whole engine against the fake with its fault rules.

A 429 storm; connections dropped mid-download and mid-fragment; the engine's process SIGKILLed
during uploads; an offline period with edits on both sides; a cache limit filled with unsent
data. After each, once online and quiet, the mount and the drive hold the same tree, byte for
byte (conflict copies included: each holds the local version), and nothing written is lost.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import trio

from onemount.engine.errors import CacheFull
from onemount.fakegraph import FaultRule
from onemount.store import ROOT_INODE
from tests.engine.bytes_child import content
from tests.engine.bytes_support import (
    assert_trees_equal,
    conflict_copies,
    mounted,
    quiet,
    with_config,
)
from tests.engine.harness import Served, served

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20
FRAGMENT = 320 * 1024
SESSIONS = {"simple_upload_limit": MiB, "fragment_size": FRAGMENT}


def test_a_429_storm_is_waited_out_and_nothing_is_lost(tmp_path: Path) -> None:
    remote = {f"/down{n}.bin": os.urandom(MiB + n) for n in range(3)}
    local = {f"/up{n}.bin": os.urandom(MiB // 2 + n) for n in range(3)}
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        for path, data in remote.items():
            drive.put_bytes(drive.root_id, path[1:], data)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                storm = server.graph.faults.add(
                    FaultRule(path="*", status=429, retry_after=1, count=6, skip=1)
                )
                async with trio.open_nursery() as nursery:
                    for path, data in local.items():
                        nursery.start_soon(m.write, path, data)
                    for path in remote:
                        nursery.start_soon(m.read, path)
                await quiet(m, within=120)
                assert storm.hits == 6
                assert await assert_trees_equal(m) == remote | local

        trio.run(main)


def test_connections_dropped_mid_download_and_mid_fragment(tmp_path: Path) -> None:
    remote = {f"/down{n}.bin": os.urandom(2 * MiB + n) for n in range(2)}
    local = {f"/up{n}.bin": os.urandom(2 * MiB + n) for n in range(2)}
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        for path, data in remote.items():
            drive.put_bytes(drive.root_id, path[1:], data)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", **SESSIONS) as m:
                await quiet(m)
                faults = server.graph.faults
                download = faults.add(
                    FaultRule(path="/dl/*", drop="response", drop_after=300_000, count=2)
                )
                # One fragment dies on the wire, another is stored but its answer is lost.
                body = faults.add(
                    FaultRule(
                        path="/up/*", method="PUT", drop="request", drop_after=100_000, skip=1
                    )
                )
                answer = faults.add(FaultRule(path="/up/*", method="PUT", drop="response", skip=3))
                async with trio.open_nursery() as nursery:
                    for path, data in local.items():
                        nursery.start_soon(m.write, path, data)
                    for path in remote:
                        nursery.start_soon(m.read, path)
                await quiet(m)
                assert (download.hits, body.hits, answer.hits) == (2, 1, 1)
                assert await assert_trees_equal(m) == remote | local
                resumed = [r.range for r in m.requests("GET", "/dl/") if r.range]
                assert len(resumed) >= 2  # each drop resumed with Range

        trio.run(main)


def _start_child(server: Served, cache: Path, files: list[tuple[str, int, int]]) -> Any:
    args = {
        "base_url": server.base_url,
        "token": server.token,
        "cache": str(cache),
        "files": files,
        **{"simple_upload_limit": MiB, "fragment": FRAGMENT},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.engine.bytes_child", json.dumps(args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _accepted_fragments(server: Served) -> int:
    return sum(1 for r in server.graph.faults.requests() if r.method == "PUT" and r.status == 202)


@pytest.mark.slow
def test_a_sigkilled_engine_resumes_its_uploads_and_loses_nothing(tmp_path: Path) -> None:
    files = [(f"big{n}.bin", 3 * MiB + 1000 * n, n) for n in range(4)]
    with served(tmp_path / "fake") as server:
        # Slow fragments, so the kill lands with sessions open and bytes in flight.
        server.graph.faults.add(FaultRule(path="/up/*", method="PUT", latency=0.05, count=-1))
        child = _start_child(server, tmp_path / "cache", files)
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "written", child.communicate()
            # Another process's progress: the server's log is the signal, polled with a
            # deadline, failing at once if the child dies.
            deadline = time.monotonic() + 120
            while _accepted_fragments(server) < 14:
                assert child.poll() is None, f"the child ended early: {child.communicate()}"
                assert time.monotonic() < deadline, "the uploads made no progress"
                time.sleep(0.02)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        killed_at = _accepted_fragments(server)
        before = len(server.graph.faults.requests())
        server.graph.faults.clear()

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", **SESSIONS) as m:
                await quiet(m, within=120)
                expected = {f"/{name}": content(size, seed) for name, size, seed in files}
                assert await assert_trees_equal(m) == expected

        trio.run(main)
        log = server.graph.faults.requests()
        starts: dict[str, list[int]] = defaultdict(list)
        across: set[str] = set()  # sessions the killed process and its successor both sent to
        for index, r in enumerate(log):
            if r.method == "PUT" and r.path.startswith("/up/") and r.range:
                starts[r.path].append(int(r.range.split()[1].split("-")[0]))
                if index >= before and any(
                    e.path == r.path and e.method == "PUT" for e in log[:before]
                ):
                    across.add(r.path)
        repeats = {
            path: [start for start, n in Counter(seen).items() if n > 1]
            for path, seen in starts.items()
        }
        print(f"\nkilled after {killed_at} fragments; repeated starts per session: {repeats}")
        # Each session resent at most the one fragment in flight when the process died.
        assert all(len(again) <= 1 for again in repeats.values()), repeats
        assert across, "no session was resumed across the kill"
        sessions = Counter(
            r.path.rsplit(":/", 1)[0].rsplit("/", 1)[-1]
            for r in log
            if r.method == "POST" and r.path.endswith("createUploadSession")
        )
        assert all(n == 1 for n in sessions.values()), sessions  # resumed, not restarted
        # Every file was new: a session by item id would be a finished file sent again whole.
        again = [
            r.path for r in log if r.method == "POST" and r.path.endswith("/createUploadSession")
        ]
        assert all(":/" in path for path in again), again


def test_an_offline_period_with_edits_on_both_sides(tmp_path: Path) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        items = {
            name: drive.put_bytes(drive.root_id, name, f"{name} v1".encode())[0]
            for name in ("both.txt", "ours.txt", "theirs.txt", "renamed.txt", "gone.txt")
        }
        folder = drive.create_folder(drive.root_id, "Folder")
        drive.put_bytes(folder.id, "inside.txt", b"inside v1")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                for name in ("both.txt", "ours.txt"):
                    await m.read(f"/{name}")
                await m.offline()
                # here
                await m.overwrite("/both.txt", b"both: ours")
                await m.overwrite("/ours.txt", b"ours v2")
                await m.local.rename(
                    ROOT_INODE, "renamed.txt", ROOT_INODE, "moved.txt", noreplace=False
                )
                await m.local.unlink(ROOT_INODE, "gone.txt")
                await m.mkdir("/New")
                await m.write("/New/made here.txt", b"made here")
                # there
                drive.put_bytes(drive.root_id, "both.txt", b"both: theirs")
                drive.put_bytes(drive.root_id, "theirs.txt", b"theirs v2")
                drive.put_bytes(drive.root_id, "made there.txt", b"made there")
                drive.update(folder.id, name="Folder renamed", parent_id=None)
                await m.online()
                await quiet(m)
                tree = await assert_trees_equal(m)
                (copy,) = conflict_copies(tree).items()
                assert copy[1] == b"both: ours"  # the conflict copy holds the local version
                del tree[copy[0]]
                assert tree == {
                    "/both.txt": b"both: theirs",
                    "/ours.txt": b"ours v2",
                    "/theirs.txt": b"theirs v2",
                    "/moved.txt": b"renamed.txt v1",
                    "/New": None,
                    "/New/made here.txt": b"made here",
                    "/made there.txt": b"made there",
                    "/Folder renamed": None,
                    "/Folder renamed/inside.txt": b"inside v1",
                }
                assert drive.get(items["renamed.txt"].id).name == "moved.txt"  # one item

        trio.run(main)


def test_a_cache_full_of_unsent_data_refuses_writes_and_loses_nothing(tmp_path: Path) -> None:
    block = 256 * 1024
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            config = with_config(cache_limit_bytes=2 * MiB)
            async with mounted(server, tmp_path / "cache", config) as m:
                await quiet(m)
                await m.offline()
                written: dict[str, bytes] = {}
                refused = None
                for n in range(20):
                    path = f"/unsent{n}.bin"
                    data = os.urandom(3 * block)
                    _, handle = await m.local.create(ROOT_INODE, path[1:], 0o644)
                    kept = b""
                    try:
                        for offset in range(0, len(data), block):
                            await m.local.write(handle.fh, offset, data[offset : offset + block])
                            kept = data[: offset + block]
                    except CacheFull as exc:
                        refused = exc
                    finally:
                        await m.local.release(handle.fh)
                        written[path] = kept
                    if refused is not None:
                        break
                assert refused is not None and refused.errno == errno.ENOSPC
                assert sum(len(d) for d in written.values()) <= 2 * MiB
                for path, data in written.items():  # what was written is all there
                    assert await m.read(path) == data
                await m.online()
                await quiet(m)
                assert await assert_trees_equal(m) == written
                # Sent, the bytes may leave the cache, and writes fit again.
                await m.write("/after.bin", os.urandom(3 * block))
                await quiet(m)
                assert len(await assert_trees_equal(m)) == len(written) + 1

        trio.run(main)
