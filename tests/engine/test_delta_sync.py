"""The delta loop against the fake: first enumeration, incremental changes, both drive kinds.

Every test runs the real thing: the fake Graph on loopback (with its shuffle and duplicate
knobs on, so children come before parents and entries repeat), a real Graph client, a real
store on disk. What is asserted is what a user would check: the store holds the drive, with
each item where the server has it, of the size and hash the server has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from onemount.fakegraph.sample import seed_sample
from onemount.store import queries
from tests.engine.delta_support import (
    admin,
    fake_tree,
    ino_of,
    remote,
    running,
    served_fake,
    state_of,
    store_tree,
    synced,
)

KNOBS = {"shuffle_delta": True, "duplicate_delta": True, "delta_page_size": 7}


@pytest.mark.parametrize("mode", ["personal", "business"])
def test_first_enumeration_comes_from_delta_and_equals_the_drive(tmp_path: Path, mode: str) -> None:
    with served_fake(tmp_path / "fake", mode=mode, **KNOBS) as server:
        seed_sample(server.graph.drive)
        expected = fake_tree(server.graph.drive)

        async def main() -> None:
            async with remote(server, tmp_path / "m.db") as (ctx, loop):
                assert loop.mount_state == "ENUMERATING" and not loop.enumerated
                async with running(loop):
                    cycle = await loop.sync()
                assert cycle.error is None and cycle.outcome is not None
                assert cycle.outcome.mode == "first" and cycle.outcome.completed
                assert store_tree(ctx.store) == expected
                assert loop.enumerated and loop.mount_state == "SERVING"
                # No listing: the tree came from the delta walk itself.
                paths = [r.path for r in server.graph.faults.requests()]
                assert not [p for p in paths if p.endswith("/children")]

        trio.run(main)


@pytest.mark.parametrize("mode", ["personal", "business"])
def test_incremental_changes_reach_the_store(tmp_path: Path, mode: str) -> None:
    with served_fake(tmp_path / "fake", mode=mode, **KNOBS) as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                docs = await fake.create("Docs", folder=True)
                a = await fake.create("a.txt", parent=docs["id"], text="one")
                b = await fake.create("b.txt", parent=docs["id"], text="two")
                await synced(loop)
                ino_a = ino_of(ctx.store, a["id"])
                sub = await fake.create("Sub", parent=docs["id"], folder=True)
                await fake.edit(a["id"], name="A renamed.txt", parent=sub["id"])
                await fake.edit(b["id"], text="two, longer")
                await fake.edit(docs["id"], name="Documents")
                gone = await fake.create("gone.txt", text="soon")
                await synced(loop)
                await fake.delete(gone["id"])
                await synced(loop)
                assert store_tree(ctx.store) == fake_tree(server.graph.drive)
                assert ino_of(ctx.store, a["id"]) == ino_a  # a move keeps the inode
                path = queries.path_of(ctx.store.reader, ino_a)
                assert path == "/Documents/Sub/A renamed.txt"
                assert state_of(ctx.store, b["id"]) == "GHOST"
                gone_row = ctx.store.reader.execute(
                    "SELECT 1 FROM items WHERE item_id = ?", (gone["id"],)
                ).fetchone()
                assert gone_row is None

        trio.run(main)
