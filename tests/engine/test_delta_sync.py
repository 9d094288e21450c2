"""The delta loop against the fake: first enumeration, incremental changes, both drive kinds.

Every test runs the real thing: the fake Graph on loopback (with its shuffle and duplicate
knobs on, so children come before parents and entries repeat), a real Graph client, a real
store on disk. What is asserted is what a user would check: the store holds the drive, with
each item where the server has it, of the size and hash the server has.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from onemount.engine.delta_loop import DeltaConfig
from onemount.engine.delta_walk import WalkConfig
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
from tests.engine.harness import Served

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


def _serve_unreadable(server: Served, item_id: str, name: str) -> None:
    """Make the fake send ``name`` for the item, a name the client refuses to parse.

    The fake itself refuses such names, so this writes its database directly: the stand-in
    for a service that sends something malformed. ``bump`` puts the item in the next delta.
    """
    drive = server.graph.drive
    drive.update(item_id, name=f"placeholder {item_id}.txt")  # a change delta will report
    with drive._lock:
        drive._db.execute("UPDATE drive_items SET name = ? WHERE id = ?", (name, item_id))


def test_an_entry_the_client_cannot_read_is_recorded_and_fetched_again(tmp_path: Path) -> None:
    config = DeltaConfig(notifications=False, walk=WalkConfig(rejected_retry=0.0))
    with served_fake(tmp_path / "fake") as server:
        drive = server.graph.drive

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db", config) as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                mended = await fake.create("mended.txt", text="m")
                deleted = await fake.create("deleted.txt", text="d")
                await synced(loop)
                _serve_unreadable(server, mended["id"], "a/b")
                _serve_unreadable(server, deleted["id"], "..")
                await loop.sync()
                recorded = json.loads(queries.kv(ctx.store.reader, "delta_rejected") or "{}")
                assert set(recorded) == {mended["id"], deleted["id"]}
                assert store_tree(ctx.store)[mended["id"]].name == "mended.txt"  # as it was
                # The service mends one name (without a change delta would report) and the
                # other item goes: the next sync fetches the first again, delta brings the
                # second's tombstone.
                with drive._lock:
                    drive._db.execute(
                        "UPDATE drive_items SET name = 'mended, renamed.txt' WHERE id = ?",
                        (mended["id"],),
                    )
                await fake.delete(deleted["id"])
                await synced(loop)
                assert queries.kv(ctx.store.reader, "delta_rejected") == "{}"
                assert store_tree(ctx.store) == fake_tree(drive)
                assert store_tree(ctx.store)[mended["id"]].name == "mended, renamed.txt"

        trio.run(main)


def test_the_quota_is_read_from_the_drive_and_reused(tmp_path: Path) -> None:
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with remote(server, tmp_path / "m.db") as (_, loop):
                server.graph.faults.clear_log()
                first = await loop.quota()
                second = await loop.quota()
                assert first is not None and first == second
                assert first.total == server.graph.drive.quota().total
                asked = [r for r in server.graph.faults.requests() if r.path == "/v1.0/me/drive"]
                assert len(asked) == 1  # the second statfs within 30 s asked nobody

        trio.run(main)
