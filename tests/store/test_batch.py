"""fire_batch against the same events fired one by one: the page prefetch never serves a stale row.

``fire_batch`` loads the rows a page names in one query up front; every event after the first
that touches an item must still see what the earlier events of the page wrote (creations,
moves, id exchanges, purges of whole subtrees). Each case runs the page both ways on two fresh
databases and compares every row, intent and journal entry, or the refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from onemount.statemachine import InvalidTransition
from onemount.store import Event, StateManager, UnknownItem, open_writer
from onemount.store.events import (
    HydrateRequested,
    HydrateSucceeded,
    RemoteDeleted,
    UploadSucceeded,
)
from tests.store.builders import add_root, appeared, changed, created, modified, remote

Setup = Callable[[StateManager], None]
Page = list[Event] | Callable[[StateManager], list[Event]]  # a callable sees its database
_LOCAL_ID = re.compile(r"local:[0-9a-f]{32}")


def _open(path: Path, setup: Setup) -> StateManager:
    path.parent.mkdir(parents=True, exist_ok=True)
    manager = StateManager(open_writer(path), clock=lambda: 1000.0)
    add_root(manager)
    setup(manager)
    return manager


def _snapshot(manager: StateManager) -> list[str]:
    """Every row of the tables fire writes, local ids masked (they are random uuids)."""
    rows = []
    for table in ("items", "intents", "journal", "kv"):
        for row in manager.conn.execute(f"SELECT * FROM {table}"):
            rows.append(_LOCAL_ID.sub("local:*", f"{table} {row!r}"))
    return sorted(rows)


def _fire_one_by_one(manager: StateManager, events: list[Event]) -> None:
    for e in events:
        manager.fire(e.item, e.payload, detail=e.detail)


def both_ways(tmp_path: Path, setup: Setup, page: Page) -> list[str]:
    """The page through fire_batch and as single fires; asserts they agree, returns the rows.

    A refused page must leave no trace and be refused one by one too; the exception goes on.
    """
    batched = _open(tmp_path / "batched.db", setup)
    single = _open(tmp_path / "single.db", setup)
    try:
        before = _snapshot(batched)
        try:
            batched.fire_batch(page(batched) if callable(page) else page)
        except (InvalidTransition, UnknownItem) as refused:
            assert _snapshot(batched) == before, "a refused page left a trace"
            with pytest.raises(type(refused)):
                _fire_one_by_one(single, page(single) if callable(page) else page)
            raise
        _fire_one_by_one(single, page(single) if callable(page) else page)
        assert _snapshot(batched) == _snapshot(single)
        return _snapshot(batched)
    finally:
        batched.close()
        single.close()


def _tree(manager: StateManager) -> None:
    """A folder ``d`` holding a folder ``e`` holding a file ``f``; a file ``x`` at the root."""
    manager.fire(None, appeared("d", "d", kind="folder"))
    manager.fire(None, appeared("e", "e", "d", kind="folder"))
    manager.fire(None, appeared("f", "f.txt", "e"))
    manager.fire(None, appeared("x", "x.txt"))


def test_a_page_builds_on_what_it_created_and_moved(tmp_path: Path) -> None:
    rows = both_ways(
        tmp_path,
        _tree,
        [
            Event(None, appeared("n", "n", "d", kind="folder")),
            Event(None, appeared("m", "m.txt", "n")),
            Event("x", changed("x", "moved.txt", "n")),
            Event("m", changed("m", "m2.txt", "e")),
            Event(None, appeared("o", "o.txt", "n")),
        ],
    )
    assert any("'moved.txt'" in r for r in rows) and any("'m2.txt'" in r for r in rows)


def test_an_item_fired_twice_in_a_page_sees_its_first_event(tmp_path: Path) -> None:
    both_ways(
        tmp_path,
        _tree,
        [
            Event("x", HydrateRequested()),
            Event(5, HydrateSucceeded(cached_hash="h1")),  # x again, by inode
            Event("x", modified(size=3)),
            Event(5, changed("x", "x.txt", ctag="c2", hash="h2")),  # against local edits
        ],
    )


def test_a_page_refers_to_the_same_id_it_just_created(tmp_path: Path) -> None:
    with pytest.raises(InvalidTransition):  # it exists now: remote_appeared is undeclared
        both_ways(
            tmp_path,
            _tree,
            [
                Event(None, appeared("n", "n")),
                Event(None, appeared("n", "n")),
            ],
        )


def test_a_purged_subtree_is_gone_for_the_rest_of_the_page(tmp_path: Path) -> None:
    with pytest.raises(InvalidTransition):  # f was purged with d: ABSENT has no remote_changed
        both_ways(
            tmp_path,
            _tree,
            [Event("d", RemoteDeleted(writers=False)), Event("f", changed("f", "f.txt"))],
        )
    for number, parent in enumerate(("d", "e")):  # d or its child e
        with pytest.raises(UnknownItem):  # purged: no parent any more
            both_ways(
                tmp_path / f"gone{number}",
                _tree,
                [Event("d", RemoteDeleted(writers=False)), Event(None, appeared("g", "g", parent))],
            )
    both_ways(  # and a purged id comes back as a new item with a new inode
        tmp_path / "3",
        _tree,
        [
            Event("d", RemoteDeleted(writers=False)),
            Event(None, appeared("f", "f.txt")),
            Event(None, appeared("e", "e", kind="folder")),
            Event(None, appeared("g", "g", "e")),
        ],
    )


def _local_file(manager: StateManager) -> None:
    _tree(manager)
    manager.fire(None, created("draft.md", 2, size=1))  # inode 6, in d


def test_an_exchanged_id_is_followed_within_the_page(tmp_path: Path) -> None:
    rows = both_ways(
        tmp_path,
        _local_file,
        [
            Event(
                6,
                UploadSucceeded(
                    remote=remote("srv-6", "draft.md", "d"), snapshot_seq=1, sent_mtime=None
                ),
            ),
            Event("srv-6", changed("srv-6", "final.md", "d")),
            Event(None, appeared("k", "k", "d")),
        ],
    )
    assert any("'srv-6'" in r and "'final.md'" in r for r in rows)


def test_the_id_given_up_in_an_exchange_is_unknown_later_in_the_page(tmp_path: Path) -> None:
    def page(manager: StateManager) -> list[Event]:
        local_id = manager.conn.execute("SELECT item_id FROM items WHERE ino = 6").fetchone()[0]
        return [
            Event(local_id, modified(size=2)),  # prefetched by its local id
            Event(
                6,
                UploadSucceeded(
                    remote=remote("srv-6", "draft.md", "d"), snapshot_seq=2, sent_mtime=None
                ),
            ),
            Event(local_id, modified(size=3)),  # names nothing now: ABSENT
        ]

    with pytest.raises(InvalidTransition):
        both_ways(tmp_path, _local_file, page)

    def as_parent(manager: StateManager) -> list[Event]:
        *exchange, _ = page(manager)
        gone = str(exchange[0].item)
        return [*exchange, Event(None, created("n", 2)), Event(None, appeared("n2", "n2", gone))]

    with pytest.raises(UnknownItem):  # nor is it a parent any more
        both_ways(tmp_path / "2", _local_file, as_parent)
