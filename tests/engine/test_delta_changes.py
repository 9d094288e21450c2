"""What a remote change does to an item here, through the whole delta loop, on both drive kinds.

* metadata only (rename, move, mtime: cTag and hash unchanged): a hydrated file stays HYDRATED
  with its bytes; the kernel is told the names, not that the content changed;
* content changed on a clean file: GHOST (its bytes are stale), or HYDRATING when pinned, with
  the download asked for at once;
* content changed, or the item deleted, against local work: CONFLICT, both versions kept;
* a folder deleted remotely keeps what below it was not uploaded yet;
* the echo of our own upload or mkdir, before or after the server's reply reached the
  outbox, is recognised: one item, its inode kept, nothing changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from onemount.engine.convert import entry
from onemount.fakegraph import FileTimesIn
from onemount.graph import NewItem
from onemount.quickxorhash import quickxorhash_b64
from onemount.store import JobGone, JobReport, Snapshot
from onemount.store.events import LocalModified, RemoteState, UploadSucceeded
from onemount.store.outbox import ready_jobs
from tests.engine.delta_support import (
    admin,
    hydrated,
    ino_of,
    local_create,
    local_edit,
    remote,
    row_of,
    running,
    served_fake,
    synced,
)

MODES = ["personal", "business"]


@pytest.mark.parametrize("mode", MODES)
def test_metadata_only_changes_keep_bytes_and_content_changes_drop_or_refetch_them(
    tmp_path: Path, mode: str
) -> None:
    with served_fake(tmp_path / "fake", mode=mode, shuffle_delta=True) as server:
        drive = server.graph.drive

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                docs = await fake.create("Docs", folder=True)
                moved = await fake.create("moved.txt", text="m")
                edited = await fake.create("edited.txt", text="e")
                pinned = await fake.create("pinned.txt", text="p")
                await synced(loop)
                inos = {i["id"]: ino_of(ctx.store, i["id"]) for i in (moved, edited, pinned)}
                for ino in inos.values():
                    await hydrated(ctx, ino)
                await ctx.store.write(lambda m: m.set_pinned(inos[pinned["id"]], True))
                before = row_of(ctx.store, inos[moved["id"]])

                await fake.edit(moved["id"], name="moved and renamed.txt", parent=docs["id"])
                drive.update(moved["id"], times=FileTimesIn(modified="2020-02-02T02:02:02Z"))
                await fake.edit(edited["id"], text="edited, new bytes")
                await fake.edit(pinned["id"], text="pinned, new bytes")
                ctx.sink.inodes.clear()
                await synced(loop)

                after = row_of(ctx.store, inos[moved["id"]])
                assert after["state"] == "HYDRATED"
                assert after["cached_hash"] == before["cached_hash"] == before["remote_hash"]
                assert (after["name"], after["parent_ino"]) == (
                    "moved and renamed.txt",
                    ino_of(ctx.store, docs["id"]),
                )
                assert after["mtime"] == 1580608922.0
                assert (inos[moved["id"]], True) not in ctx.sink.inodes
                stale = row_of(ctx.store, inos[edited["id"]])
                assert (stale["state"], stale["cached_hash"]) == ("GHOST", None)
                assert stale["size"] == len("edited, new bytes")
                assert (inos[edited["id"]], True) in ctx.sink.inodes
                refetch = row_of(ctx.store, inos[pinned["id"]])
                assert refetch["state"] == "HYDRATING"
                assert ctx.content.entered("HYDRATING") == [inos[pinned["id"]]]
                assert inos[edited["id"]] in ctx.content.entered("GHOST")

        trio.run(main)


@pytest.mark.parametrize("mode", MODES)
def test_remote_changes_against_local_work_end_in_conflict_keeping_both(
    tmp_path: Path, mode: str
) -> None:
    with served_fake(tmp_path / "fake", mode=mode, duplicate_delta=True) as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                edited = await fake.create("edited here and there.txt", text="base")
                deleted = await fake.create("edited here, deleted there.txt", text="base")
                folder = await fake.create("Folder", folder=True)
                inside = await fake.create("inside.txt", parent=folder["id"], text="base")
                untouched = await fake.create("untouched.txt", parent=folder["id"], text="u")
                await synced(loop)
                ino = {i["id"]: ino_of(ctx.store, i["id"]) for i in (edited, deleted, folder)}
                ino_inside = ino_of(ctx.store, inside["id"])
                for n in (ino[edited["id"]], ino[deleted["id"]], ino_inside):
                    await local_edit(ctx, n, size=7)
                draft = await local_create(ctx, ino[folder["id"]], "draft.txt")

                await fake.edit(edited["id"], text="their bytes")
                await fake.delete(deleted["id"])
                await fake.delete(folder["id"])
                await synced(loop)

                both = row_of(ctx.store, ino[edited["id"]])
                assert (both["state"], both["size"], both["has_local_changes"]) == (
                    "CONFLICT",
                    7,
                    1,
                )
                assert both["conflict_remote_size"] == len("their bytes")
                assert both["conflict_remote_hash"] == quickxorhash_b64(b"their bytes")
                gone = row_of(ctx.store, ino[deleted["id"]])
                assert (gone["state"], gone["size"], gone["remote_id"]) == ("CONFLICT", 7, None)
                kept = row_of(ctx.store, ino[folder["id"]])
                assert (kept["state"], kept["remote_id"]) == ("DIRTY_LOCAL", None)
                assert row_of(ctx.store, ino_inside)["state"] == "CONFLICT"
                assert row_of(ctx.store, draft)["parent_ino"] == ino[folder["id"]]
                assert (
                    ctx.store.reader.execute(
                        "SELECT 1 FROM items WHERE item_id = ?", (untouched["id"],)
                    ).fetchone()
                    is None
                )  # clean, and gone on the server: gone here too

        trio.run(main)


def test_the_echo_of_our_own_upload_and_mkdir_changes_nothing(tmp_path: Path) -> None:
    data = b"my own bytes"
    digest = quickxorhash_b64(data)
    with served_fake(tmp_path / "fake", shuffle_delta=True, duplicate_delta=True) as server:
        drive = server.graph.drive
        source = tmp_path / "upload.bin"
        source.write_bytes(data)

        async def main() -> None:
            async with remote(server, tmp_path / "m.db") as (ctx, loop), running(loop):
                assert ctx.client is not None
                await synced(loop)
                manager = ctx.store.manager

                async def upload(name: str, *, echo_first: bool) -> int:
                    """What the outbox does, with delta's echo before or after the reply."""
                    ino = await local_create(ctx, 1, name)
                    payload = LocalModified(size=len(data), mtime=1.0, cached_hash=digest)
                    await ctx.store.write(lambda m: m.fire(ino, payload))
                    (job,) = [j for j in ready_jobs(manager.conn, 1e12) if j.ino == ino]
                    seq = manager.upload_snapshot_seq(ino)
                    await ctx.store.write(
                        lambda m: m.start_job(job.id, Snapshot(seq, digest, len(data)))
                    )
                    reply = await ctx.client.upload(source, NewItem(drive.root_id, name))
                    if echo_first:
                        await synced(loop)
                    remote_state = entry(reply)
                    assert isinstance(remote_state, RemoteState)
                    done = UploadSucceeded(remote=remote_state, snapshot_seq=seq, sent_mtime=None)
                    await ctx.store.write(
                        lambda m: m.finish_job(job.id, JobReport("succeeded"), done)
                    )
                    return ino

                async def mkdir(name: str) -> int:
                    ino = await local_create(ctx, 1, name, kind="folder")
                    (job,) = [j for j in ready_jobs(manager.conn, 1e12) if j.ino == ino]
                    await ctx.store.write(lambda m: m.start_job(job.id))
                    reply = await ctx.client.create_folder(drive.root_id, name)
                    await synced(loop)  # the echo first: the folder is adopted
                    remote_state = entry(reply)
                    assert isinstance(remote_state, RemoteState)
                    with pytest.raises(JobGone):  # its intent went with the adoption
                        await ctx.store.write(
                            lambda m: m.finish_job(job.id, JobReport("succeeded"), None)
                        )
                    return ino

                after_reply = await upload("after the reply.txt", echo_first=False)
                before_reply = await upload("before the reply.txt", echo_first=True)
                folder = await mkdir("New folder")
                journal = ctx.store.reader.execute("SELECT max(seq) FROM journal").fetchone()
                await synced(loop)
                for ino, name in (
                    (after_reply, "after the reply.txt"),
                    (before_reply, "before the reply.txt"),
                    (folder, "New folder"),
                ):
                    row = row_of(ctx.store, ino)
                    assert (row["name"], row["state"], row["has_local_changes"]) == (
                        name,
                        "HYDRATED",
                        0,
                    )
                    assert row["remote_id"] is not None
                    twins = ctx.store.reader.execute(
                        "SELECT count(*) FROM items WHERE name = ?", (name,)
                    ).fetchone()
                    assert twins == (1,)
                # Delta repeating all of it (duplicates, shuffled) writes nothing more.
                assert (
                    ctx.store.reader.execute("SELECT max(seq) FROM journal").fetchone() == journal
                )
                assert not ctx.store.reader.execute("SELECT 1 FROM intents").fetchall()

        trio.run(main)
