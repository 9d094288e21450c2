"""Conflicts against the fake: both versions kept, listed, and resolved three ways.

A conflict is made as it happens to users: the same file edited here while offline and on
another device meanwhile. By default (policy "both") the engine resolves it on its own as soon
as the file is closed: the server's version keeps the name, ours goes up as a conflict copy.
With the policy off, the conflict waits for the user, who keeps local, remote or both.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import trio

from onemount.engine.conflicts import Keep
from onemount.engine.errors import EngineError
from onemount.store import ROOT_INODE
from tests.engine.bytes_support import (
    Mount,
    assert_trees_equal,
    conflict_copies,
    mounted,
    quiet,
)
from tests.engine.harness import served

THEIRS = b"edited on another device\n"
OURS = b"edited here, offline\n"


async def conflicted(mount: Mount, *, policy: Keep | None) -> int:
    """notes.txt edited on both sides while offline; back online, it is in conflict."""
    mount.engine.conflicts.policy = policy
    drive = mount.drive
    assert await mount.read("/notes.txt") == b"v1"
    await mount.offline()
    await mount.overwrite("/notes.txt", OURS)
    drive.put_bytes(drive.root_id, "notes.txt", THEIRS)
    await mount.online()
    await quiet(mount)
    return mount.ino("/notes.txt")


def run(tmp_path: Path, body: object) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "notes.txt", b"v1")

        async def main() -> None:
            async with mounted(server, tmp_path / "cache") as m:
                await quiet(m)
                await body(m)  # type: ignore[operator]

        trio.run(main)


def test_by_default_both_versions_are_kept_and_sent(tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        await conflicted(m, policy="both")
        tree = await assert_trees_equal(m)
        assert tree["/notes.txt"] == THEIRS
        copies = conflict_copies(tree)
        assert list(copies.values()) == [OURS]
        (name,) = copies
        assert name.startswith("/notes (conflict copy ") and name.endswith(").txt")
        assert ":" not in name
        assert m.engine.conflicts.list() == []

    run(tmp_path, body)


def test_a_conflict_is_listed_with_both_versions_until_resolved(tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        ino = await conflicted(m, policy=None)
        (listed,) = m.engine.conflicts.list()
        assert (listed.ino, listed.path, listed.local_size) == (ino, "/notes.txt", len(OURS))
        assert listed.remote_size == len(THEIRS) and not listed.remote_gone
        assert await m.read("/notes.txt") == OURS  # the file shows our bytes meanwhile
        assert m.drive.read_all(m.remote_id("/notes.txt")) == THEIRS  # nothing overwritten

    run(tmp_path, body)


@pytest.mark.parametrize(
    ("keep", "expected"),
    [("local", OURS), ("remote", THEIRS), ("both", THEIRS)],
)
def test_resolving_a_conflict(tmp_path: Path, keep: Keep, expected: bytes) -> None:
    async def body(m: Mount) -> None:
        ino = await conflicted(m, policy=None)
        copy = await m.engine.conflicts.resolve(ino, keep)
        await quiet(m)
        tree = await assert_trees_equal(m)
        assert tree["/notes.txt"] == expected
        copies = conflict_copies(tree)
        if keep == "both":
            assert copy is not None and list(copies.values()) == [OURS]
        else:
            assert copy is None and copies == {}
        assert m.engine.conflicts.list() == []

    run(tmp_path, body)


def test_a_remote_delete_of_a_file_edited_here_keeps_ours(tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        assert await m.read("/notes.txt") == b"v1"
        await m.offline()
        await m.overwrite("/notes.txt", OURS)
        m.drive.delete(m.remote_id("/notes.txt"))
        await m.online()
        await quiet(m)
        assert await assert_trees_equal(m) == {"/notes.txt": OURS}

    run(tmp_path, body)


def test_a_file_open_for_writing_waits_and_resolution_then_refused(tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        ino = await conflicted(m, policy=None)
        handle = await m.local.open(ino, write=True, truncate=False)
        with pytest.raises(EngineError) as busy:
            await m.engine.conflicts.resolve(ino, "remote")
        assert busy.value.errno == errno.EBUSY
        m.engine.conflicts.policy = "both"
        await m.engine.outbox.drain()
        assert [c.ino for c in m.engine.conflicts.list()] == [ino]  # waits for the writer
        await m.local.release(handle.fh)
        await quiet(m)
        tree = await assert_trees_equal(m)
        assert list(conflict_copies(tree).values()) == [OURS]
        with pytest.raises(EngineError) as refused:
            await m.engine.conflicts.resolve(ino, "local")
        assert refused.value.errno == errno.EINVAL  # not in conflict any more

    run(tmp_path, body)


def test_a_file_in_conflict_can_be_renamed_and_touched_and_the_server_follows(
    tmp_path: Path,
) -> None:
    """The move of an item in conflict goes to the server's current version (If-Match on the
    version kept beside ours, not on the base both sides started from, which would be
    refused every time); resolving afterwards keeps both the name and the contents."""

    async def body(m: Mount) -> None:
        ino = await conflicted(m, policy=None)
        await m.local.rename(ROOT_INODE, "notes.txt", ROOT_INODE, "renamed.txt", noreplace=True)
        await m.local.set_times(ino, mtime=1_234_567.0)
        await quiet(m)
        patches = [r.status for r in m.requests("PATCH", "/items/")]
        assert patches and set(patches) == {200}  # never a 412 against the old base
        assert m.drive.read_all(m.remote_id("/renamed.txt")) == THEIRS
        assert m.row("/renamed.txt")["state"] == "CONFLICT"
        await m.engine.conflicts.resolve(ino, "local")
        await quiet(m)
        assert (await assert_trees_equal(m))["/renamed.txt"] == OURS
        assert m.row("/renamed.txt")["mtime"] == 1_234_567.0

    run(tmp_path, body)
