"""metadata_v2 on APSW: fire's batch path, FUSE lookups and listings, each against raw APSW.

Figures (each with a baseline measured in the same run):
* upserting 100,000 delta-like items in pages of 200 through ``fire_batch`` (items/s) against
  raw ``executemany`` of the same rows in the same page transactions; each side the best of
  ``ROUNDS`` runs, the two sides taking turns, so a burst of load on a shared machine does not
  decide the ratio;
* point lookups by (parent, name) per second against a plain dict lookup;
* listing a 10,000-child directory (ms) against the raw SELECT.

``python -m bench.bench_store --make-db PATH`` writes a realistic 100,000-item database (tree
depth and fan-out, extensions, sizes, ages, a mix of states reached through ``fire``) for
``onemount stats --json --db PATH``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import Figure, best_time, time_once
from onemount.store import Event, StateManager, queries
from onemount.store.schema import ITEM_COLUMNS

PAGE = 200
ITEMS = 100_000
ROUNDS = 3
_EXTENSIONS = ("jpg", "pdf", "docx", "txt", "py", "png", "xlsx", "mp4", "md", "zip", "")
Delta = dict[str, Any]


def delta_items(count: int, *, seed: int = 7, now: float | None = None) -> Iterator[Delta]:
    """A delta enumeration: a root, then folders before their contents, like Graph sends them.

    Folders hang anywhere down to depth 6; files land mostly in recently listed folders (as
    delta pages do), with log-normal sizes and mtimes spread over years so the age histogram
    has every bucket.
    """
    rng = random.Random(seed)
    now = time.time() if now is None else now
    yield {"id": "root", "root": True, "kind": "folder", "name": "root"}
    folders = [("root", 0)]
    for index in range(1, count):
        if rng.random() < 0.08:
            parent, depth = rng.choice(folders)
            if depth >= 6:
                parent, depth = folders[0]
            item_id = f"d{index}"
            folders.append((item_id, depth + 1))
            yield {"id": item_id, "parent": parent, "name": f"folder {index}", "kind": "folder"}
            continue
        parent, _ = folders[-1 - min(int(rng.expovariate(0.2)), len(folders) - 1)]
        ext = rng.choice(_EXTENSIONS)
        yield {
            "id": f"f{index}",
            "parent": parent,
            "name": f"file {index}.{ext}" if ext else f"file {index}",
            "kind": "file",
            "size": 0 if rng.random() < 0.03 else int(rng.lognormvariate(10, 3)),
            "mtime": now - rng.expovariate(1 / (200 * 86400.0)),
            "etag": f"e{index}",
            "ctag": f"c{index}",
            "hash": f"h{index}",
        }


def _events(items: list[Delta]) -> list[Event]:
    return [
        Event(d["id"], "remote_appeared", {k: v for k, v in d.items() if k != "id"}) for d in items
    ]


def _pages(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), PAGE):
        yield items[start : start + PAGE]


def _fire_all(path: Path, items: list[Delta]) -> StateManager:
    manager = StateManager.open(path)
    for number, page in enumerate(_pages(_events(items))):
        manager.fire_batch(page, delta_cursor=f"cursor-{number}")
    return manager


def _raw_all(path: Path, items: list[Delta]) -> None:
    """The same rows through one prepared INSERT per page, ino and parent known up front."""
    manager = StateManager.open(path)
    conn = manager.conn
    inos = {d["id"]: n for n, d in enumerate(items, start=1)}
    now = time.time()
    rows = []
    for d in items:
        row = dict.fromkeys(ITEM_COLUMNS)
        row.update(
            ino=inos[d["id"]],
            item_id=d["id"],
            remote_id=d["id"],
            parent_ino=inos.get(d.get("parent", "")),
            name=d["name"],
            name_key=d["name"].casefold(),
            kind=d["kind"],
            state="HYDRATED" if d["kind"] == "folder" else "GHOST",
            virtual=0,
            size=d.get("size", 0),
            pinned=0,
            pending_remote=0,
            has_local_changes=0,
            local_change_seq=0,
            created=now,
            updated=now,
        )
        rows.append(tuple(row[c] for c in ITEM_COLUMNS))
    insert = f"INSERT INTO items VALUES ({', '.join('?' * len(ITEM_COLUMNS))})"
    for page in _pages(rows):
        conn.execute("BEGIN; INSERT INTO fire_token VALUES (1)")
        conn.executemany(insert, page)
        conn.execute("DELETE FROM fire_token; COMMIT")
    manager.close()


def make_db(path: Path, count: int = ITEMS, *, seed: int = 7) -> None:
    """A realistic database: the enumeration, then hydrations, edits, deletes and failures."""
    rng = random.Random(seed)
    items = list(delta_items(count, seed=seed))
    manager = _fire_all(path, items)
    files = [d["id"] for d in items if d["kind"] == "file"]
    rng.shuffle(files)
    cut = len(files) // 100
    plan = [
        (files[: 20 * cut], ("hydrate_requested", "hydrate_succeeded")),
        (files[20 * cut : 21 * cut], ("hydrate_requested",)),
        (files[21 * cut : 23 * cut], ("hydrate_requested", "hydrate_succeeded", "local_modified")),
        (files[23 * cut : 24 * cut], ("local_deleted",)),
        (files[24 * cut : 24 * cut + cut // 2], ("hydrate_requested", "hydrate_failed")),
    ]
    for ids, steps in plan:
        for step in steps:
            for page in _pages(ids):
                manager.fire_batch(Event(i, step, {"error": "bench"}) for i in page)
    folders = [d["id"] for d in items if d["kind"] == "folder" and not d.get("root")]
    for page in _pages(folders[:50]):
        manager.fire_batch(
            Event(None, "local_created", {"parent": f, "name": "new notes.md"}) for f in page
        )
    manager.set_kv("cache_limit_bytes", str(10 * 1024**3))
    manager.close()


def _remove_db(path: Path) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)


def collect() -> list[Figure]:
    items = list(delta_items(ITEMS))
    with tempfile.TemporaryDirectory() as tmp:
        raw_db, fire_db = Path(tmp, "raw.db"), Path(tmp, "fire.db")
        raw_s = fire_s = float("inf")
        manager: list[StateManager] = []
        for _ in range(ROUNDS):  # both sides start from a fresh file every round
            _remove_db(raw_db)
            raw_s = min(raw_s, time_once(lambda: _raw_all(raw_db, items)))
            for previous in manager:
                previous.close()
            manager.clear()
            _remove_db(fire_db)
            fire_s = min(fire_s, time_once(lambda: manager.append(_fire_all(fire_db, items))))
        conn = manager[0].conn
        figures = [
            Figure(
                f"fire_batch upsert, {ITEMS:,} items in pages of {PAGE}",
                "items/s",
                ITEMS / fire_s,
                "raw APSW executemany, same rows and pages",
                ITEMS / raw_s,
                higher_is_better=True,
            ),
            *_lookups(conn, items),
            _listing(manager[0]),
        ]
        manager[0].close()
    return figures


def _lookups(conn: Any, items: list[Delta]) -> list[Figure]:
    rng = random.Random(3)
    inos = {d["id"]: n for n, d in enumerate(items, start=1)}
    probes = [(inos[d["parent"]], d["name"].upper()) for d in rng.sample(items[1:], 1000)]
    plain = {(p, n.casefold()): 0 for p, n in probes}
    cycle = iter(probes * 1000)

    def lookup() -> None:
        parent, name = next(cycle)
        queries.lookup_ino(conn, parent, name)

    keys = iter(list(plain) * 1000)
    per_lookup = best_time(lookup, number=50_000, repeat=3)
    per_dict = best_time(lambda: plain[next(keys)], number=50_000, repeat=3)
    return [
        Figure(
            "lookup by (parent, name), case-insensitive",
            "lookups/s",
            1 / per_lookup,
            "dict lookup",
            1 / per_dict,
            higher_is_better=True,
        )
    ]


def _listing(manager: StateManager) -> Figure:
    folder = manager.fire("big", "remote_appeared", parent=1, name="big", kind="folder")
    for page in _pages(list(range(10_000))):
        manager.fire_batch(
            Event(f"big{i}", "remote_appeared", {"parent": folder.ino, "name": f"n{i}"})
            for i in page
        )
    conn = manager.conn
    listed = best_time(lambda: queries.children(conn, folder.ino, limit=10_000), number=5)
    raw = best_time(
        lambda: conn.execute("SELECT * FROM items WHERE parent_ino = ?", (folder.ino,)).fetchall(),
        number=5,
    )
    return Figure(
        "list a 10,000-child directory",
        "ms",
        listed * 1e3,
        "raw SELECT * of the children",
        raw * 1e3,
        higher_is_better=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--make-db", type=Path, required=True, help="database file to create")
    parser.add_argument("--items", type=int, default=ITEMS)
    args = parser.parse_args()
    if args.make_db.exists():
        parser.error(f"{args.make_db} exists")
    make_db(args.make_db, args.items)
    print(f"wrote {args.make_db}")


if __name__ == "__main__":
    main()
