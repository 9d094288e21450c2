"""Editors' save patterns through LocalOps: the right bytes under the right name, every time.

Each pattern is replayed as the program makes its system calls (the FUSE layer turns them into
exactly these LocalOps calls), against a whole engine on the fake, with the default idle delay's
purpose kept (a burst settles before anything is sent). After each, once quiet, the drive and
the mount hold the same bytes under the same names, and no temporary, lock, backup or swap file
is left on the server. Where a temporary file is renamed over the original, the server's item
keeps its id (its version history), which is the engine's rule for an editor's save.
"""

from __future__ import annotations

import os
from pathlib import Path

import trio

from onemount.fakegraph import FaultRule
from onemount.store import ROOT_INODE
from tests.engine.bytes_support import Mount, assert_trees_equal, mounted, quiet, with_config
from tests.engine.harness import served

ORIGINAL = b"the original\n"
EDITED = b"the original, edited and saved\n"
BURST = with_config(upload_idle_delay=2.0)


async def edit(mount: Mount, path: str) -> tuple[int, str]:
    """The editor opens and reads the file first; returns (its inode, its server id)."""
    assert await mount.read(path) == ORIGINAL
    return mount.ino(path), mount.remote_id(path)


async def write_new(mount: Mount, parent: int, name: str, data: bytes) -> int:
    ino, handle = await mount.local.create(parent, name, 0o644)
    await mount.local.write(handle.fh, 0, data)
    await mount.local.fsync(handle.fh, datasync=False)
    await mount.local.flush(handle.fh)
    await mount.local.release(handle.fh)
    return int(ino)


async def saved(mount: Mount, expected: dict[str, bytes | None]) -> None:
    """Quiet, both trees equal ``expected``, and no temporary name ever reached the server."""
    await quiet(mount)
    assert await assert_trees_equal(mount) == expected
    sent = {r.path for r in mount.server.graph.faults.requests() if r.method in ("PUT", "POST")}
    for path in sent:
        for marker in (".goutputstream", ".tmp", "~", ".swp", ".lock", "#"):
            assert marker not in path.rsplit("/", 1)[-1], f"a temporary was uploaded: {path}"


def run_pattern(tmp_path: Path, pattern: object, expected: dict[str, bytes | None]) -> None:
    with served(tmp_path / "fake") as server:
        drive = server.graph.drive
        drive.put_bytes(drive.root_id, "doc.txt", ORIGINAL)

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", BURST) as m:
                await quiet(m)
                await pattern(m)  # type: ignore[operator]
                await saved(m, expected)

        trio.run(main)


def test_gedit_writes_a_temporary_and_renames_it_over_the_file(tmp_path: Path) -> None:
    async def gedit(m: Mount) -> None:
        ino, remote_id = await edit(m, "/doc.txt")
        await write_new(m, ROOT_INODE, ".goutputstream-X1Y2Z3", EDITED)
        holder = await m.local.rename(
            ROOT_INODE, ".goutputstream-X1Y2Z3", ROOT_INODE, "doc.txt", noreplace=False
        )
        assert holder == ino
        await quiet(m)
        assert m.remote_id("/doc.txt") == remote_id  # the same item, a new version

    run_pattern(tmp_path, gedit, {"/doc.txt": EDITED})


def test_vs_code_atomic_save_through_a_temporary(tmp_path: Path) -> None:
    async def vscode(m: Mount) -> None:
        _, remote_id = await edit(m, "/doc.txt")
        await write_new(m, ROOT_INODE, "doc.txt.tmp-4f2a", EDITED)
        await m.local.rename(ROOT_INODE, "doc.txt.tmp-4f2a", ROOT_INODE, "doc.txt", noreplace=False)
        await quiet(m)
        assert m.remote_id("/doc.txt") == remote_id

    run_pattern(tmp_path, vscode, {"/doc.txt": EDITED})


def test_libreoffice_lock_file_and_temporary(tmp_path: Path) -> None:
    async def libreoffice(m: Mount) -> None:
        _, remote_id = await edit(m, "/doc.txt")
        await write_new(m, ROOT_INODE, ".~lock.doc.txt#", b"user,host,date")
        await write_new(m, ROOT_INODE, "lu1234abcd.tmp", EDITED)
        await m.local.rename(ROOT_INODE, "lu1234abcd.tmp", ROOT_INODE, "doc.txt", noreplace=False)
        await m.local.unlink(ROOT_INODE, ".~lock.doc.txt#")  # closing the document
        await quiet(m)
        assert m.remote_id("/doc.txt") == remote_id

    run_pattern(tmp_path, libreoffice, {"/doc.txt": EDITED})


def test_rsync_dot_name_temporary_with_its_mtime(tmp_path: Path) -> None:
    async def rsync(m: Mount) -> None:
        _, remote_id = await edit(m, "/doc.txt")
        temp = await write_new(m, ROOT_INODE, ".doc.txt.Qx81Lm", EDITED)
        await m.local.set_times(temp, mtime=1_600_000_000.0)
        await m.local.rename(ROOT_INODE, ".doc.txt.Qx81Lm", ROOT_INODE, "doc.txt", noreplace=False)
        assert m.row("/doc.txt")["mtime"] == 1_600_000_000.0
        await quiet(m)
        assert m.remote_id("/doc.txt") == remote_id

    run_pattern(tmp_path, rsync, {"/doc.txt": EDITED})


def test_vim_backup_by_rename_a_new_file_and_a_swap_file(tmp_path: Path) -> None:
    async def vim(m: Mount) -> None:
        await edit(m, "/doc.txt")
        swap = await write_new(m, ROOT_INODE, ".doc.txt.swp", b"b0VIM 9.0" + bytes(100))
        handle = await m.local.open(swap, write=True, truncate=False)
        await m.local.write(handle.fh, 4096, b"recovery block")  # vim updates its swap file
        await m.local.release(handle.fh)
        await m.local.rename(ROOT_INODE, "doc.txt", ROOT_INODE, "doc.txt~", noreplace=False)
        await write_new(m, ROOT_INODE, "doc.txt", EDITED)
        await m.local.unlink(ROOT_INODE, "doc.txt~")
        await m.local.unlink(ROOT_INODE, ".doc.txt.swp")  # :q

    run_pattern(tmp_path, vim, {"/doc.txt": EDITED})


def test_git_lock_files_renamed_over_the_index_and_refs(tmp_path: Path) -> None:
    head = b"ref: refs/heads/main\n"
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            async with mounted(server, tmp_path / "cache", BURST) as m:
                await quiet(m)
                repo = await m.mkdir("/repo")
                dotgit = await m.local.mkdir(repo, ".git", 0o755)
                await write_new(m, dotgit, "HEAD", head)
                refs = await m.local.mkdir(dotgit, "refs", 0o755)
                heads = await m.local.mkdir(refs, "heads", 0o755)
                objects = await m.local.mkdir(dotgit, "objects", 0o755)
                await write_new(m, dotgit, "index", b"DIRC index v1")
                await quiet(m)
                index_id = m.remote_id("/repo/.git/index")
                # git commit: an object written to a temporary and renamed into its folder,
                # then index.lock over index and main.lock as the new ref.
                fan = await m.local.mkdir(objects, "ab", 0o755)
                await write_new(m, objects, "tmp_obj_Zk29", b"blob 5\0hello")
                await m.local.rename(objects, "tmp_obj_Zk29", fan, "cdef0123", noreplace=True)
                await write_new(m, dotgit, "index.lock", b"DIRC index v2")
                await m.local.rename(dotgit, "index.lock", dotgit, "index", noreplace=False)
                await write_new(m, heads, "main.lock", b"abcdef0123\n")
                await m.local.rename(heads, "main.lock", heads, "main", noreplace=False)
                await saved(
                    m,
                    {
                        "/repo": None,
                        "/repo/.git": None,
                        "/repo/.git/HEAD": head,
                        "/repo/.git/index": b"DIRC index v2",
                        "/repo/.git/refs": None,
                        "/repo/.git/refs/heads": None,
                        "/repo/.git/refs/heads/main": b"abcdef0123\n",
                        "/repo/.git/objects": None,
                        "/repo/.git/objects/ab": None,
                        "/repo/.git/objects/ab/cdef0123": b"blob 5\0hello",
                    },
                )
                assert m.remote_id("/repo/.git/index") == index_id

        trio.run(main)


def test_o_trunc_reopen_writes_in_place(tmp_path: Path) -> None:
    async def nano(m: Mount) -> None:
        ino, remote_id = await edit(m, "/doc.txt")
        await m.overwrite("/doc.txt", EDITED)
        assert m.ino("/doc.txt") == ino
        await quiet(m)
        assert m.remote_id("/doc.txt") == remote_id

    run_pattern(tmp_path, nano, {"/doc.txt": EDITED})


def test_a_truncate_alone_is_a_change(tmp_path: Path) -> None:
    async def truncate(m: Mount) -> None:
        await edit(m, "/doc.txt")
        await m.local.truncate(m.ino("/doc.txt"), 4)

    run_pattern(tmp_path, truncate, {"/doc.txt": ORIGINAL[:4]})


def test_an_empty_touched_file_is_uploaded_empty(tmp_path: Path) -> None:
    async def touch(m: Mount) -> None:
        ino, handle = await m.local.create(ROOT_INODE, "empty.txt", 0o644)
        await m.local.set_times(ino, mtime=1_700_000_000.0)
        await m.local.release(handle.fh)

    run_pattern(tmp_path, touch, {"/doc.txt": ORIGINAL, "/empty.txt": b""})


def test_a_rename_while_the_upload_is_in_flight(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            graph = {"simple_upload_limit": 1 << 20, "fragment_size": 320 * 1024}
            async with mounted(server, tmp_path / "cache", BURST, **graph) as m:
                await quiet(m)
                server.graph.faults.add(FaultRule(path="/up/*", latency=0.5, count=-1))
                ino = await write_new(m, ROOT_INODE, "draft.bin", data)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(m.engine.outbox.drain)  # no idle delay: send it now
                    await m.engine.outbox.job_started()  # the create is on its way
                    await m.local.rename(
                        ROOT_INODE, "draft.bin", ROOT_INODE, "final.bin", noreplace=False
                    )
                    server.graph.faults.clear()
                assert m.ino("/final.bin") == ino
                await saved(m, {"/final.bin": data})
                assert len(m.requests("POST", "createUploadSession")) == 1  # sent once

        trio.run(main)


def test_delete_and_recreate_the_same_name(tmp_path: Path) -> None:
    async def recreate(m: Mount) -> None:
        await edit(m, "/doc.txt")
        await m.local.unlink(ROOT_INODE, "doc.txt")
        await write_new(m, ROOT_INODE, "doc.txt", EDITED)

    run_pattern(tmp_path, recreate, {"/doc.txt": EDITED})


def test_many_small_files_written_at_once(tmp_path: Path) -> None:
    files = {f"/many/f{n:03}.txt": f"file {n}\n".encode() * (n + 1) for n in range(150)}

    async def many(m: Mount) -> None:
        folder = await m.mkdir("/many")
        async with trio.open_nursery() as nursery:
            for path, data in files.items():
                nursery.start_soon(write_new, m, folder, path.rsplit("/", 1)[1], data)

    run_pattern(tmp_path, many, {"/doc.txt": ORIGINAL, "/many": None, **files})
