"""The engine SIGKILLed while it applies delta, and started again: same end state, nothing twice.

The delta loop runs in a process of its own (``tests/engine/delta_child.py``) against the fake
on loopback, with shuffled, repeated pages of 100. It is killed the moment it reports a page
applied, while the next is being fetched or ingested, twice during the first enumeration of a
drive of about 4,000 items and once during an incremental delta that renames, moves and
deletes, and started again each time. At the end the store equals the drive, every item was
created exactly once (one ``remote_appeared`` in the journal), every renamed item changed
exactly once (one ``remote_changed``), and the store validates.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onemount.engine.store import EngineStore
from onemount.fakegraph.sample import seed_sample
from onemount.store import queries
from onemount.store.validate import validate
from tests.engine.delta_support import fake_tree, served_fake, store_tree
from tests.engine.harness import Served

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """One run of the delta loop in its own process, read line by line."""

    def __init__(self, db: Path, server: Served) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.engine.delta_child",
                str(db),
                server.base_url,
                server.token,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        self.lines: list[str] = []

    def _line(self, deadline: float) -> str:
        assert self.process.stdout is not None
        if not self._selector.select(timeout=max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"the child said nothing in time; so far: {self.lines[-5:]}")
        line = self.process.stdout.readline().strip()
        if not line:
            raise AssertionError(f"the child ended early (exit {self.process.wait()})")
        self.lines.append(line)
        return line

    def kill_after(self, pages: int, within: float = 120.0) -> list[str]:
        """SIGKILL the child as soon as it has reported ``pages`` pages applied."""
        deadline = time.monotonic() + within
        applied = 0
        while applied < pages:
            if self._line(deadline).startswith("applied"):
                applied += 1
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        return self.lines

    def finish(self, within: float = 120.0) -> list[str]:
        deadline = time.monotonic() + within
        while self._line(deadline) != "done":
            pass
        assert self.process.wait(timeout=30) == 0
        return self.lines


def _twice(store: EngineStore, event: str) -> list[tuple[str, int]]:
    """Items with more than one journal row for ``event``."""
    return [
        (str(i), int(n))
        for i, n in store.reader.execute(
            "SELECT item_id, count(*) FROM journal WHERE event = ? GROUP BY item_id"
            " HAVING count(*) > 1",
            (event,),
        )
    ]


@pytest.mark.slow
def test_a_sigkilled_delta_loop_restarts_to_the_same_end_state_applying_nothing_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "metadata_v2.db"
    with served_fake(
        tmp_path / "fake", shuffle_delta=True, duplicate_delta=True, delta_page_size=100
    ) as server:
        drive = server.graph.drive
        seed_sample(drive)
        drive.populate(4000)

        # The first enumeration, killed twice on its way.
        first = Child(db, server).kill_after(5)
        store = EngineStore(db)
        cursor = queries.kv(store.reader, "delta_cursor")
        partial = len(store_tree(store))
        store.close()
        assert cursor is not None and 0 < partial < len(fake_tree(drive)), (partial, first)
        Child(db, server).kill_after(3)
        Child(db, server).finish()
        store = EngineStore(db)
        assert store_tree(store) == fake_tree(drive)
        assert _twice(store, "remote_appeared") == []
        store.close()

        # An incremental delta of renames, a move and a folder delete, killed on its way.
        tree = fake_tree(drive)
        # populate's folders: flat under the root, files only. One moves into another, one
        # goes with what it holds (those files are deleted, not renamed).
        bulk = sorted(
            (n.name, i)
            for i, n in tree.items()
            if n.kind == "folder" and n.name.startswith("bulk-")
        )
        folders = [i for _, i in bulk]
        doomed = folders[2]
        files = sorted(i for i, n in tree.items() if n.kind == "file" and n.parent != doomed)
        renamed = files[:1500]
        with drive.batch():
            for n, item in enumerate(renamed):
                drive.update(item, name=f"renamed {n:04d}.txt")
            drive.update(folders[0], parent_id=folders[1])
            drive.delete(doomed)
        Child(db, server).kill_after(4)
        Child(db, server).finish()
        store = EngineStore(db)
        try:
            assert store_tree(store) == fake_tree(drive)
            assert _twice(store, "remote_appeared") == []
            changes = dict(
                store.reader.execute(
                    "SELECT item_id, count(*) FROM journal WHERE event = 'remote_changed'"
                    " GROUP BY item_id"
                ).fetchall()
            )
            assert [i for i in renamed if changes.get(i) != 1] == []
            assert validate(store.reader) == []
        finally:
            store.close()
