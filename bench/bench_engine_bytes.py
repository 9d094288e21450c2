"""The engine's bytes against the Graph client's own: hydration, first byte, many uploads.

Three figures, each beside a baseline measured in the same run against the same fake Graph
(``onemount fakegraph serve`` in a process of its own, over TCP on 127.0.0.1, the drive set up
first in this process), each side run ``REPEAT`` times alternating with the other, best run
counting:

* **hydrating a 1 GiB file end to end**: the engine's hydrator from the request (a process
  waiting) to the row HYDRATED (downloaded, hashed, fsynced, renamed, ``hydrate_succeeded``
  committed), against the client's own ``download(id, dest, expected_hash=...)`` of the same
  item (the same transfer code, fsync and rename, no store, no progress announcements);
* **the time to the first byte of a 100 MiB GHOST file**: ``LocalOps.open`` then the first
  128 KiB ``read`` returning, against a raw httpx GET of the item's ``/content`` (the same
  token, the 302 followed) to its first body chunk;
* **uploading 10,000 small files**: the outbox draining 10,000 files written through LocalOps
  (their idle delay held back until the clock starts), against the raw client uploading the
  same 10,000 files from a folder, ``upload_workers`` at a time (the engine's default, 4).
  The engine does more per file than the baseline: a snapshot, ``start_job`` and
  ``finish_job`` commits, and a PATCH of the file's mtime after each simple PUT (a PUT cannot
  carry it; the baseline sends no time). The engine side checks that every file has its
  server id and nothing is pending.

Every side's HTTP connection is open before its clock starts (the engine's from its
enumeration, the baselines' from a first request). The client runs with ``rate=inf`` on both
sides (its default token bucket, 50 requests/s, would bound both at the same figure). Each
figure's note carries the machine's load average before and after it. Nothing here asserts a
time.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import trio

from bench.bench_graph import _Fake, _served, _size
from bench.harness import Figure
from onemount.engine.cache import CacheDir
from onemount.engine.config import EngineConfig
from onemount.engine.delta_loop import DeltaConfig, DeltaLoop
from onemount.engine.engine import Engine
from onemount.engine.hydrator import WAITING
from onemount.engine.store import EngineStore
from onemount.fakegraph import FakeDrive
from onemount.graph import Connectivity, GraphClient, GraphConfig, NewItem, StaticToken
from onemount.store import ROOT_INODE
from onemount.store import queries as q

BIG = 1 << 30
GHOST = 100 << 20
FILES = 10_000
FIRST_READ = 128 * 1024
REPEAT = 3
UPLOAD_REPEAT = 1
MB = 1e6
_BLOCK = 16 << 20
CONFIG = EngineConfig(min_free_bytes=0, upload_idle_delay=3600.0)
_SENT = "SELECT count(*) FROM items WHERE parent_ino = ? AND remote_id IS NOT NULL"

Run = Callable[[], Awaitable[float]]  # one measured run: returns its own seconds


def _best_alternating(sides: list[Run], repeat: int) -> list[float]:
    """Best seconds of each side, alternating; each run in a fresh trio.run, timing itself
    (an engine's start-up and enumeration are not what is measured)."""
    best = [math.inf] * len(sides)
    for _ in range(repeat):
        for index, run in enumerate(sides):
            best[index] = min(best[index], trio.run(run))
    return best


def _client(fake: _Fake, connectivity: Connectivity | None = None) -> GraphClient:
    config = GraphConfig(base_url=fake.base_url, rate=math.inf)
    return GraphClient(StaticToken(fake.token), config, listener=connectivity)


class _Mount:
    """An engine on a fresh cache, started, its first enumeration done."""

    def __init__(self, fake: _Fake, cache_dir: Path) -> None:
        cache = CacheDir(cache_dir)
        connectivity = Connectivity()
        self.engine = Engine(
            cache=cache,
            store=EngineStore(cache.database),
            client=_client(fake, connectivity),
            connectivity=connectivity,
            config=CONFIG,
        )
        self.engine.delta = DeltaLoop(self.engine, DeltaConfig(notifications=False))

    async def run(self, body: Callable[[Engine], Awaitable[float]]) -> float:
        engine = self.engine
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await engine.delta.sync()
                elapsed = await body(engine)
                engine.abort()
        finally:
            assert engine.client is not None
            await engine.client.aclose()
            engine.store.close()
        return elapsed


def _big_file(path: Path, size: int) -> Path:
    block = os.urandom(min(_BLOCK, size))
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(block)
    return path


# -- hydration ---------------------------------------------------------------------------------


def _hydration_figure(folder: Path) -> Figure:
    drive = FakeDrive(folder / "drive")
    item = drive.put_file(drive.root_id, "big.bin", _big_file(folder / "big.bin", BIG))
    drive.close()
    os.sync()  # the set-up's dirty pages on disk: the first run must not pay for them
    with _served(folder / "drive") as fake:
        target = folder / "out.bin"

        async def engine_side() -> float:
            with tempfile.TemporaryDirectory(dir=folder) as cache:

                async def hydrate(engine: Engine) -> float:
                    ino = q.resolve_path(engine.store.reader, "/big.bin")
                    assert ino is not None
                    start = time.perf_counter()
                    engine.hydrator.request(ino, priority=WAITING)
                    await engine.hydrator.wait_cached(ino, timeout=600)
                    return time.perf_counter() - start

                return await _Mount(fake, Path(cache)).run(hydrate)

        async def client_side() -> float:
            target.unlink(missing_ok=True)
            async with _client(fake) as graph:
                await graph.item(item.id)  # its connection open, as the engine's is
                start = time.perf_counter()
                done = await graph.download(item.id, target, expected_hash=item.qxh)
                elapsed = time.perf_counter() - start
            if done.size != BIG:
                raise RuntimeError(f"the client downloaded {done.size} bytes, not {BIG}")
            return elapsed

        engine_s, client_s = _best_alternating([engine_side, client_side], REPEAT)
        target.unlink(missing_ok=True)
    return Figure(
        name=f"engine hydration {_size(BIG)}",
        unit="MB/s",
        value=BIG / engine_s / MB,
        baseline_name="GraphClient.download",
        baseline_value=BIG / client_s / MB,
        higher_is_better=True,
        note=f"best of {REPEAT}; request to HYDRATED committed; fake in its own process",
    )


# -- time to first byte ------------------------------------------------------------------------


def _first_byte_figure(folder: Path) -> Figure:
    drive = FakeDrive(folder / "drive")
    item = drive.put_file(drive.root_id, "ghost.bin", _big_file(folder / "ghost.bin", GHOST))
    drive.close()
    os.sync()
    with _served(folder / "drive") as fake:

        async def engine_side() -> float:
            with tempfile.TemporaryDirectory(dir=folder) as cache:

                async def first_byte(engine: Engine) -> float:
                    ino = q.resolve_path(engine.store.reader, "/ghost.bin")
                    assert ino is not None
                    start = time.perf_counter()
                    handle = await engine.local.open(ino, write=False, truncate=False)
                    data = await engine.local.read(handle.fh, 0, FIRST_READ)
                    elapsed = time.perf_counter() - start
                    if len(data) != FIRST_READ:
                        raise RuntimeError(f"the first read gave {len(data)} bytes")
                    await engine.local.release(handle.fh)
                    return elapsed

                return await _Mount(fake, Path(cache)).run(first_byte)

        async def raw_side() -> float:
            url = f"{fake.base_url}/me/drive/items/{item.id}/content"
            auth = {"Authorization": f"Bearer {fake.token}"}
            async with httpx.AsyncClient(follow_redirects=True, headers=auth) as http:
                warm = await http.get(url.removesuffix("/content"))  # the connection open
                warm.raise_for_status()
                start = time.perf_counter()
                async with http.stream("GET", url) as response:
                    response.raise_for_status()
                    async for _ in response.aiter_raw():
                        return time.perf_counter() - start
            raise RuntimeError("the raw download sent no bytes")

        engine_s, raw_s = _best_alternating([engine_side, raw_side], REPEAT * 2)
    return Figure(
        name=f"engine first byte of a {_size(GHOST)} ghost",
        unit="ms",
        value=engine_s * 1000,
        baseline_name="httpx GET /content, first chunk",
        baseline_value=raw_s * 1000,
        higher_is_better=False,
        note=f"best of {REPEAT * 2}; open + first {FIRST_READ >> 10} KiB read",
    )


# -- many small uploads ------------------------------------------------------------------------


def _payloads(count: int) -> dict[str, bytes]:
    rng = random.Random(7)
    return {f"f{n:05}.txt": rng.randbytes(rng.randint(16, 2048)) for n in range(count)}


def _upload_figure(folder: Path) -> Figure:
    files = _payloads(FILES)
    source = folder / "files"
    source.mkdir()
    for name, data in files.items():
        (source / name).write_bytes(data)
    drive = FakeDrive(folder / "drive")
    drive.close()
    workers = CONFIG.upload_workers
    runs = iter(range(1_000))
    with _served(folder / "drive") as fake:

        async def engine_side() -> float:
            with tempfile.TemporaryDirectory(dir=folder) as cache:

                async def upload(engine: Engine) -> float:
                    parent = await engine.local.mkdir(ROOT_INODE, f"engine-{next(runs)}", 0o755)
                    for name, data in files.items():
                        _, handle = await engine.local.create(parent, name, 0o644)
                        await engine.local.write(handle.fh, 0, data)
                        await engine.local.release(handle.fh)
                    start = time.perf_counter()
                    await engine.outbox.drain()  # the idle delay no longer holds them back
                    elapsed = time.perf_counter() - start
                    sent = engine.store.reader.execute(_SENT, (parent,)).fetchone()
                    if engine.pending_changes() or sent is None or sent[0] != len(files):
                        raise RuntimeError(f"{engine.pending_changes()} changes not sent")
                    return elapsed

                return await _Mount(fake, Path(cache)).run(upload)

        async def client_side() -> float:
            async with _client(fake) as graph:
                root = await graph.root()
                target = await graph.create_folder(root.id, f"client-{next(runs)}")
                limiter = trio.CapacityLimiter(workers)

                async def one(name: str) -> None:
                    async with limiter:
                        await graph.upload(source / name, NewItem(target.id, name))

                start = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for name in files:
                        nursery.start_soon(one, name)
                return time.perf_counter() - start

        engine_s, client_s = _best_alternating([engine_side, client_side], UPLOAD_REPEAT)
    return Figure(
        name=f"engine upload of {FILES:,} small files",
        unit="files/s",
        value=FILES / engine_s,
        baseline_name=f"GraphClient.upload, {workers} at a time",
        baseline_value=FILES / client_s,
        higher_is_better=True,
        note=f"best of {UPLOAD_REPEAT}; the outbox drained (snapshot, start_job, PUT, the"
        " mtime's PATCH, finish_job)",
    )


def _under_load(measure: Callable[[Path], Figure], folder: Path) -> Figure:
    """The figure, with the machine's 1-minute load average before and after it in its note.

    On a shared 2-core VM other processes move these wall-clock figures more than a change in
    the code does; the load says how far to trust a ratio whose sides ran minutes apart.
    """
    folder.mkdir()
    before = os.getloadavg()[0]
    figure = measure(folder)
    after = os.getloadavg()[0]
    load = f"load {before:.1f} to {after:.1f} on {os.cpu_count()} CPUs"
    return replace(figure, note=f"{figure.note}; {load}")


def collect() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-engine-bytes-") as tmp:
        folder = Path(tmp)
        return [
            _under_load(_hydration_figure, folder / "hydrate"),
            _under_load(_first_byte_figure, folder / "first"),
            _under_load(_upload_figure, folder / "upload"),
        ]
