"""The Operations driven without a kernel, as the model conformance run drives them.

A real engine on a real store, bootstrapped from the fake Graph over loopback; the handlers
are called directly, and readdir entries are collected by a reply function with a buffer of
a chosen size, as the kernel's is. What is checked is what the kernel would be told: lookup
counts (readdirplus entries included), stable readdir offsets while the folder changes,
``st_blocks``, negative and normalised lookups, status attributes, quota, setattr.
"""

from __future__ import annotations

import errno
import stat
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyfuse3
import pytest
import trio

from onemount.engine.cache import CacheDir
from onemount.engine.config import EngineConfig
from onemount.engine.engine import Engine
from onemount.engine.store import EngineStore
from onemount.fs.operations import Changes, Operations
from onemount.graph import Connectivity
from onemount.store import ROOT_INODE
from tests.engine.harness import Served

CTX = pyfuse3.RequestContext()


@dataclass
class Collected:
    """readdir entries as the kernel would take them: ``room`` per call."""

    room: int
    entries: list[tuple[str, int, int]] = field(default_factory=list)  # name, ino, next_id
    _left: int = 0

    def reply(
        self, token: pyfuse3.ReaddirToken, name: bytes, attrs: pyfuse3.EntryAttributes, next_id: int
    ) -> bool:
        if self._left == 0:
            return False
        self._left -= 1
        self.entries.append((name.decode(), attrs.st_ino, next_id))
        return True

    async def page(self, ops: Operations, fh: int, start: int) -> int:
        """One readdir call from ``start``; the offset to continue from (-1: the end)."""
        self._left = self.room
        before = len(self.entries)
        await ops.readdir(fh, start, pyfuse3.ReaddirToken())
        taken = self.entries[before:]
        return taken[-1][2] if len(taken) == self.room else -1


@asynccontextmanager
async def operations(
    tmp_path: Path, served: Served, room: int = 1000
) -> AsyncIterator[tuple[Operations, Collected]]:
    cache = CacheDir(tmp_path / "cache")
    store = EngineStore(cache.database)
    collected = Collected(room)
    async with served.client() as client:
        engine = Engine(
            cache=cache,
            store=store,
            client=client,
            connectivity=Connectivity(),
            config=EngineConfig(),
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            yield Operations(engine, reply=collected.reply), collected
            engine.shutdown()
    store.close()


async def _listing(ops: Operations, collected: Collected, ino: int) -> list[tuple[str, int, int]]:
    fh = await ops.opendir(ino, CTX)
    start = 0
    while start != -1:
        start = await collected.page(ops, fh, start)
    await ops.releasedir(fh)
    return collected.entries


async def _ino(ops: Operations, parent: int, name: str) -> int:
    found = await ops.lookup(parent, name.encode(), CTX)
    return int(found.st_ino)


def test_lookup_counts(tmp_path: Path, served: Served) -> None:
    async def main() -> None:
        async with operations(tmp_path, served) as (ops, collected):
            documents = await _ino(ops, ROOT_INODE, "Documents")
            assert ops.kernel.lookups(documents) == 1
            await ops.lookup(ROOT_INODE, b"Documents", CTX)
            assert ops.kernel.lookups(documents) == 2
            listed = await _listing(ops, collected, documents)
            assert {name for name, _, _ in listed} >= {"Welcome.txt", "Taxes 2025"}
            for _, ino, _ in listed:
                assert ops.kernel.lookups(ino) == 1  # each readdirplus entry the kernel took
            missing = await ops.lookup(documents, b"nothing here", CTX)
            assert missing.st_ino == 0 and missing.entry_timeout > 0
            await ops.forget([(documents, 2), *[(ino, 1) for _, ino, _ in listed]])
            assert ops.kernel.lookups(documents) == 0 and ops.kernel.known() == 0
            assert (await ops.lookup(documents, b"..", CTX)).st_ino == ROOT_INODE

    trio.run(main)


def test_readdir_offsets_are_stable_while_the_folder_changes(
    tmp_path: Path, served: Served
) -> None:
    async def main() -> None:
        async with operations(tmp_path, served, room=3) as (ops, collected):
            local = ops.engine.local
            folder = await local.mkdir(ROOT_INODE, "busy", 0o755)
            for index in range(10):
                _, handle = await local.create(folder, f"f{index}", 0o644)
                await local.release(handle.fh)
            fh = await ops.opendir(folder, CTX)
            start = await collected.page(ops, fh, 0)
            assert [name for name, _, _ in collected.entries] == ["f0", "f1", "f2"]
            await local.unlink(folder, "f5")  # not listed yet: must not appear
            await local.unlink(folder, "f1")  # listed already: nothing shifts
            _, handle = await local.create(folder, "late", 0o644)
            await local.release(handle.fh)
            while start != -1:
                start = await collected.page(ops, fh, start)
            names = [name for name, _, _ in collected.entries]
            assert names == ["f0", "f1", "f2", "f3", "f4", "f6", "f7", "f8", "f9", "late"]
            offsets = [next_id for _, _, next_id in collected.entries]
            assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)

    trio.run(main)


def test_attributes(tmp_path: Path, served: Served) -> None:
    async def main() -> None:
        async with operations(tmp_path, served) as (ops, _):
            music = await _ino(ops, ROOT_INODE, "Music")
            song = await ops.lookup(music, b"Band - Song.mp3", CTX)
            assert song.st_size == 900_000 and song.st_blocks == -(-900_000 // 512)
            assert stat.S_ISREG(song.st_mode) and stat.S_IMODE(song.st_mode) == 0o644
            folder = await ops.getattr(music, CTX)
            assert stat.S_ISDIR(folder.st_mode) and folder.st_nlink == 1 and folder.st_size == 0
            # Looked up as written, up to normalisation.
            documents = await _ino(ops, ROOT_INODE, "Documents")
            nfd = unicodedata.normalize("NFD", "Résumé.txt").encode()
            assert (await ops.lookup(documents, nfd, CTX)).st_ino != 0
            assert (await ops.lookup(ROOT_INODE, b"MUSIC", CTX)).st_ino == 0
            with pytest.raises(pyfuse3.FUSEError) as long:
                await ops.lookup(ROOT_INODE, b"x" * 256, CTX)
            assert long.value.errno == errno.ENAMETOOLONG

    trio.run(main)


def test_setattr(tmp_path: Path, served: Served) -> None:
    async def main() -> None:
        async with operations(tmp_path, served) as (ops, _):
            ino, handle = await ops.engine.local.create(ROOT_INODE, "a.txt", 0o644)
            await ops.engine.local.write(handle.fh, 0, b"0123456789")
            await ops.engine.local.release(handle.fh)
            wanted = pyfuse3.EntryAttributes()
            wanted.st_size = 4
            wanted.st_mode = stat.S_IFREG | 0o600
            wanted.st_mtime_ns = 1_600_000_000_123_456_000
            changes = Changes(update_size=True, update_mode=True, update_mtime=True)
            answer = await ops.setattr(ino, wanted, changes, None, CTX)
            assert answer.st_size == 4 and stat.S_IMODE(answer.st_mode) == 0o600
            assert answer.st_mtime_ns == 1_600_000_000_123_456_000
            wanted.st_uid = ops.owner.uid + 1
            with pytest.raises(pyfuse3.FUSEError) as chown:
                await ops.setattr(ino, wanted, Changes(update_uid=True), None, CTX)
            assert chown.value.errno == errno.EPERM

    trio.run(main)


def test_status_and_quota(tmp_path: Path, served: Served) -> None:
    async def main() -> None:
        async with operations(tmp_path, served) as (ops, _):
            music = await _ino(ops, ROOT_INODE, "Music")
            song = await _ino(ops, music, "Band - Song.mp3")
            names = await ops.listxattr(song, CTX)
            assert names == [b"user.onemount.state", b"user.onemount.pinned", b"user.onemount.id"]
            assert await ops.getxattr(song, b"user.onemount.state", CTX) == b"GHOST"
            await ops.setxattr(song, b"user.onemount.pinned", b"1", CTX)
            assert await ops.getxattr(song, b"user.onemount.pinned", CTX) == b"1"
            for name, value, number in (
                (b"user.onemount.state", b"X", errno.EPERM),
                (b"user.x", b"X", errno.ENOTSUP),
                (b"user.onemount.pinned", b"maybe", errno.EINVAL),
            ):
                with pytest.raises(pyfuse3.FUSEError) as refused:
                    await ops.setxattr(song, name, value, CTX)
                assert refused.value.errno == number
            quota = served.graph.drive.quota()
            found = await ops.statfs(CTX)
            assert found.f_blocks * found.f_frsize == quota.total // 4096 * 4096
            assert found.f_bavail * found.f_frsize == quota.remaining // 4096 * 4096

    trio.run(main)
