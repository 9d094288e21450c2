"""A 410 (the cursor expired): the drive is enumerated again and reconciled, losing no local work.

Items the server stopped listing while our cursor was dead never come as tombstones: the
resync is the only way to learn they are gone. A clean one goes; a file with local changes
becomes a CONFLICT that keeps our bytes; a folder holding something not uploaded yet stays, to
be created again. A second 410 in the middle of the resync walk starts it over, and an item
changed while the walk ran (so absent from it) is found by the catch-up delta, not deleted.
"""

from __future__ import annotations

from pathlib import Path

import trio

from onemount.engine.delta_walk import Applied
from onemount.fakegraph import FaultRule
from onemount.store import ROOT_INODE
from onemount.store.validate import validate
from tests.engine.delta_support import (
    admin,
    fake_tree,
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

DELTA = "/v1.0/me/drive/root/delta"


def test_a_410_mid_walk_resyncs_and_reconciles_without_losing_local_work(tmp_path: Path) -> None:
    with served_fake(
        tmp_path / "fake", shuffle_delta=True, duplicate_delta=True, delta_page_size=3
    ) as server:
        drive = server.graph.drive

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                docs = await fake.create("Docs", folder=True)
                clean = await fake.create("clean.txt", parent=docs["id"], text="c")
                dirty = await fake.create("dirty.txt", parent=docs["id"], text="d")
                kept = await fake.create("kept.txt", parent=docs["id"], text="k")
                proj = await fake.create("Proj", folder=True)
                for n in range(12):  # enough entries for several pages
                    await fake.create(f"f{n}.txt", parent=proj["id"], text=str(n))
                await synced(loop)
                dirty_ino = ino_of(ctx.store, dirty["id"])
                proj_ino = ino_of(ctx.store, proj["id"])
                await local_edit(ctx, dirty_ino, size=42)
                draft = await local_create(ctx, proj_ino, "draft.txt")

                # While our cursor is dead: three items go, one comes, one is renamed.
                drive.expire_delta_tokens()
                await fake.delete(clean["id"])
                await fake.delete(dirty["id"])
                await fake.delete(proj["id"])
                new = await fake.create("new.txt", parent=docs["id"], text="n")
                await fake.edit(kept["id"], name="kept, renamed.txt")

                # The sync's requests: the dead cursor (410 from the drive), the resync's first
                # page, then a 410 on its second page, in the middle of the walk.
                rule = server.graph.faults.add(
                    FaultRule(path=DELTA, method="GET", status=410, skip=2, count=1)
                )
                cycle = await loop.sync()
                assert cycle.error is None and cycle.outcome is not None
                outcome = cycle.outcome
                assert rule.hits == 1
                assert (outcome.mode, outcome.resyncs, outcome.completed) == ("resync", 2, True)

                # The clean item is gone; the server's items are all there as it has them.
                live = store_tree(ctx.store)
                assert clean["id"] not in live
                assert {i: n for i, n in live.items() if i in fake_tree(drive)} == fake_tree(drive)
                assert live[new["id"]].name == "new.txt"
                assert live[kept["id"]].name == "kept, renamed.txt"
                # Local work survives: our edit as a conflict, the folder with our draft in it
                # as a folder to create again, the draft itself untouched.
                edited = row_of(ctx.store, dirty_ino)
                assert (edited["state"], edited["has_local_changes"], edited["size"]) == (
                    "CONFLICT",
                    1,
                    42,
                )
                folder = row_of(ctx.store, proj_ino)
                assert (folder["state"], folder["remote_id"]) == ("DIRTY_LOCAL", None)
                assert folder["parent_ino"] == ROOT_INODE
                assert row_of(ctx.store, draft)["state"] == "DIRTY_LOCAL"
                assert row_of(ctx.store, draft)["parent_ino"] == proj_ino
                assert validate(ctx.store.reader) == []
                # And the next sync starts from the new cursor: an incremental with nothing.
                again = await loop.sync()
                assert again.outcome is not None and again.outcome.mode == "incremental"

        trio.run(main)


def test_an_item_changed_while_the_resync_walks_is_not_taken_for_gone(tmp_path: Path) -> None:
    # Pages in sequence order: the item created last is walked last, so renaming it after the
    # first page takes it out of this walk (the fake walks changes up to where it started).
    with served_fake(tmp_path / "fake", delta_page_size=2) as server:
        drive = server.graph.drive
        late: dict[str, str] = {}

        def observe(applied: Applied) -> None:
            if applied.mode == "resync" and "renamed" not in late:
                late["renamed"] = "yes"
                drive.update(late["id"], name="late, renamed.txt")

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db", observer=observe) as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                for n in range(6):
                    await fake.create(f"early{n}.txt", text="e")
                item = await fake.create("late.txt", text="l")
                late["id"] = item["id"]
                await synced(loop)
                ino = ino_of(ctx.store, item["id"])
                drive.expire_delta_tokens()
                cycle = await loop.sync()
                assert cycle.outcome is not None and cycle.outcome.mode == "resync"
                assert late.get("renamed") == "yes"
                assert cycle.outcome.reconciled == 0
                assert ino_of(ctx.store, item["id"]) == ino  # never deleted and made again
                assert store_tree(ctx.store)[item["id"]].name == "late, renamed.txt"
                assert store_tree(ctx.store) == fake_tree(drive)

        trio.run(main)
