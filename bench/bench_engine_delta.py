"""The delta loop end to end: a drive's first enumeration into the store, and a delta of 1,000.

The fake runs as ``onemount fakegraph serve`` in a process of its own, as Graph would, serving
a drive of 100,000 items (folders of 100 empty files) in delta pages of 200, the fake's and the
service's usual size. Each side runs in a fresh process too, so its peak resident memory is its
own (``ru_maxrss``) and no earlier benchmark's heap is counted.

* **first enumeration 100k** (items/s): the real :class:`~onemount.engine.engine.Engine` on a
  new store: ``delta.bootstrap()`` (the drive, the root) and one sync, timed from the first
  request until the deltaLink is committed: every page fetched, parsed, converted, ingested
  through the spec in a worker thread with its cursor, reported to the sink and the content
  cache. The **baseline** is the client's delta parsing alone on the same drive:
  ``GraphClient.delta(None).all_items()`` (fetch, links checked, every item parsed), in a
  process of its own. The ratio is what applying costs on top of reading.
* **peak RSS** (MB) of the enumerating process, against the parsing-only process.
* **delta of 1,000 changes** (s): 1,000 files renamed at once in the drive (one transaction,
  as another device syncing), then one incremental sync from the stored cursor until applied.
  The **baseline** reads the same changes with the client alone (``delta(cursor)``). Best of
  ``REPEAT`` rounds, each renaming anew.

The client runs with ``rate=inf``: its default limiter (50 requests/s) is a politeness policy
toward Graph and would cap a walk in pages of 200 at 10,000 items/s whatever the code does.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from bench.bench_graph import _served
from bench.harness import Figure
from onemount.engine.cache import CacheDir
from onemount.engine.config import EngineConfig
from onemount.engine.engine import Engine
from onemount.engine.store import EngineStore
from onemount.fakegraph import FakeDrive
from onemount.graph import Connectivity, GraphClient, GraphConfig, StaticToken
from onemount.store import queries

ITEMS = 100_000
CHANGES = 1_000
PAGE = 200
REPEAT = 3


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _client(base_url: str, token: str, connectivity: Connectivity | None = None) -> GraphClient:
    config = GraphConfig(base_url=base_url, rate=math.inf)
    return GraphClient(StaticToken(token), config, listener=connectivity)


def _rename(data_dir: Path, round_: int) -> None:
    """``CHANGES`` files renamed in one transaction, by the fake's own drive object."""
    drive = FakeDrive(data_dir)
    try:
        files: list[str] = []
        for folder in drive.children(drive.root_id, None, 1000):
            files.extend(i.id for i in drive.children(folder.id, None, 1000) if i.is_file)
            if len(files) >= CHANGES:
                break
        with drive.batch():
            for n, item in enumerate(files[:CHANGES]):
                drive.update(item, name=f"renamed {round_}-{n:05d}.txt")
    finally:
        drive.close()


async def _engine_side(base_url: str, token: str, data_dir: Path, work: Path) -> dict[str, Any]:
    cache = CacheDir(work / "cache")
    store = EngineStore(cache.database)
    connectivity = Connectivity()
    async with _client(base_url, token, connectivity) as client:
        config = EngineConfig()
        engine = Engine(
            cache=cache, store=store, client=client, connectivity=connectivity, config=config
        )
        started = time.perf_counter()
        await engine.delta.bootstrap()
        outcome = await engine.delta.walker.sync()
        enumerated = time.perf_counter() - started
        rss = _rss_mb()
        rows = store.reader.execute("SELECT count(*) FROM items").fetchone()[0]
        if not outcome.completed or rows != ITEMS + 1:  # and the root
            raise RuntimeError(f"enumeration: {outcome} but {rows} rows")
        incremental, reading = math.inf, math.inf
        for round_ in range(REPEAT):
            await trio.to_thread.run_sync(_rename, data_dir, round_)
            cursor = queries.kv(store.reader, "delta_cursor")
            started = time.perf_counter()
            changed = await engine.delta.walker.sync()
            incremental = min(incremental, time.perf_counter() - started)
            if changed.changed != CHANGES:
                raise RuntimeError(f"the incremental sync changed {changed.changed} items")
            started = time.perf_counter()
            seen = await client.delta(cursor).all_items()
            reading = min(reading, time.perf_counter() - started)
            if len(seen) < CHANGES:
                raise RuntimeError(f"the client read {len(seen)} changes")
    store.close()
    return {
        "seconds": enumerated,
        "items": rows,
        "rss_mb": rss,
        "incremental": incremental,
        "incremental_read": reading,
    }


async def _client_side(base_url: str, token: str) -> dict[str, Any]:
    async with _client(base_url, token) as client:
        started = time.perf_counter()
        items = await client.delta(None).all_items()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "items": len(items), "rss_mb": _rss_mb()}


def _child(side: str, base_url: str, token: str, data_dir: Path) -> dict[str, Any]:
    """Run one side in a fresh interpreter; its JSON report."""
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as work:
        command = [sys.executable, "-m", "bench.bench_engine_delta", side, base_url, token]
        command += [str(data_dir), work]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def collect() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-engine-delta-") as tmp:
        data_dir = Path(tmp) / "drive"
        drive = FakeDrive(data_dir)
        drive.populate(ITEMS)
        drive.close()
        engine_runs, client_runs = [], []
        with _served(data_dir) as fake:
            fake.set_options(delta_page_size=PAGE)
            for _ in range(REPEAT):
                client_runs.append(_child("client", fake.base_url, fake.token, data_dir))
                engine_runs.append(_child("engine", fake.base_url, fake.token, data_dir))
    engine = min(engine_runs, key=lambda r: r["seconds"])
    client = min(client_runs, key=lambda r: r["seconds"])
    note = f"best of {REPEAT}; fake in its own process; pages of {PAGE}"
    return [
        Figure(
            name=f"engine first enumeration {ITEMS // 1000}k items into the store",
            unit="items/s",
            value=engine["items"] / engine["seconds"],
            baseline_name="client delta parsing alone",
            baseline_value=client["items"] / client["seconds"],
            higher_is_better=True,
            note=note,
        ),
        Figure(
            name="engine first enumeration peak RSS",
            unit="MB",
            value=max(r["rss_mb"] for r in engine_runs),
            baseline_name="client delta parsing alone",
            baseline_value=max(r["rss_mb"] for r in client_runs),
            higher_is_better=False,
            note="ru_maxrss of the process, the highest of its runs",
        ),
        Figure(
            name=f"engine incremental delta of {CHANGES:,} renames",
            unit="s",
            value=min(r["incremental"] for r in engine_runs),
            baseline_name="client reading the same delta",
            baseline_value=min(r["incremental_read"] for r in engine_runs),
            higher_is_better=False,
            note=f"best of {REPEAT * REPEAT} rounds; from the committed change to applied",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one side of bench_engine_delta")
    parser.add_argument("side", choices=["engine", "client"])
    parser.add_argument("base_url")
    parser.add_argument("token")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("work", type=Path)
    args = parser.parse_args(argv)
    if args.side == "engine":
        report = trio.run(_engine_side, args.base_url, args.token, args.data_dir, args.work)
    else:
        report = trio.run(_client_side, args.base_url, args.token)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
