"""A random mix of remote operations: after each sync the store equals the fake's drive.

100 steps of creates, edits, renames, moves and deletes made through the fake's admin API (over
HTTP, as another device would), with delta pages of 1 to 5 entries, shuffled across pages and
repeated (the fake's ``shuffle_delta`` and ``duplicate_delta``), and a sync every few steps.
Names come from a small vocabulary in mixed case, so names collide, items move onto the names
others just left, and folders move under folders that moved. After every sync the store holds
exactly the drive: every item's name, parent, kind, and for files size and hash.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio

from onemount.fakegraph.sample import seed_sample
from onemount.store.validate import validate
from tests.engine.delta_support import (
    Admin,
    admin,
    fake_tree,
    remote,
    running,
    served_fake,
    store_tree,
    synced,
)

STEPS = 100
NAMES = ["a", "B", "c.txt", "C.TXT", "doc", "Doc", "e f", "g.md"]
# Weighted so the drive grows while everything happens often (a folder delete takes a subtree).
OPERATIONS = (
    ["create"] * 3 + ["folder"] * 2 + ["edit"] * 2 + ["rename"] * 2 + ["move"] * 2 + ["delete"]
)


async def _step(rng: random.Random, fake: Admin, root: str, tree: dict[str, Any]) -> str:
    """One random operation on the drive; returns what it did (for the failure message)."""
    folders = [root, *(i for i, n in tree.items() if n.kind == "folder")]
    items = list(tree)
    op = rng.choice(OPERATIONS)
    if op in ("create", "folder") or not items:
        parent, name = rng.choice(folders), rng.choice(NAMES)
        folder = op == "folder"
        text = "x" * rng.randrange(0, 64)
        done = await fake.try_create(name, parent=parent, folder=folder, text=text)
        return f"{op} {name!r} in {parent}: {done}"
    item = rng.choice(items)
    if op == "delete":
        await fake.delete(item)
        return f"delete {item}"
    if op == "edit" and tree[item].kind == "file":
        return f"edit {item}: {await fake.try_edit(item, text='y' * rng.randrange(0, 64))}"
    if op in ("rename", "edit"):
        name = rng.choice(NAMES)
        return f"rename {item} to {name!r}: {await fake.try_edit(item, name=name)}"
    if op == "move":
        inside = _subtree(tree, item)
        targets = [f for f in folders if f not in inside and f != tree[item].parent]
        if targets:
            target = rng.choice(targets)
            return f"move {item} to {target}: {await fake.try_edit(item, parent=target)}"
    return f"no move for {item}"


def _subtree(tree: dict[str, Any], top: str) -> set[str]:
    below = {top}
    grew = True
    while grew:
        grew = False
        for item, node in tree.items():
            if node.parent in below and item not in below:
                below.add(item)
                grew = True
    return below


@pytest.mark.parametrize(
    ("mode", "seed"), [(m, s) for s in (20251, 4) for m in ("personal", "business")]
)
def test_a_random_mix_of_remote_changes_leaves_the_store_equal_to_the_drive(
    tmp_path: Path, mode: str, seed: int
) -> None:
    rng = random.Random(seed)
    print(f"seed {seed}, {mode}")
    with served_fake(
        tmp_path / "fake", mode=mode, shuffle_delta=True, duplicate_delta=True
    ) as server:
        drive = server.graph.drive
        seed_sample(drive)  # start from a tree of folders and files

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db") as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                done: list[str] = []
                for step in range(STEPS):
                    done.append(await _step(rng, fake, drive.root_id, fake_tree(drive)))
                    if rng.random() < 0.15 or step == STEPS - 1:
                        drive.options.delta_page_size = rng.randint(1, 5)
                        await synced(loop)
                        expected = fake_tree(drive)
                        assert store_tree(ctx.store) == expected, "\n".join(done[-20:])
                kinds = Counter(line.split()[0] for line in done)
                refused = sum("refused" in line for line in done)
                print(f"{dict(kinds)}, {refused} refused; {len(fake_tree(drive))} items at the end")
                assert validate(ctx.store.reader) == []
                assert ctx.store.reader.execute("SELECT count(*) FROM delta_held").fetchone() == (
                    0,
                )

        trio.run(main)
