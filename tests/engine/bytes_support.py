"""What the engine-bytes tests stand on: a whole engine against the fake Graph on loopback.

:func:`mounted` builds the real :class:`~onemount.engine.engine.Engine` (a store on a SQLite
file, a cache directory, a Graph client over TCP to the fake reporting to a real
:class:`~onemount.graph.Connectivity`) and runs it in a nursery: the delta loop, the hydrator,
the outbox and the cache's sweeps all run, as in a mount; the test drives the FUSE layer's side
through :class:`~onemount.engine.local.LocalOps` directly. Leaving the block aborts the engine
(what is pending stays in the store, as after a crash).

:func:`quiet` waits until both directions have settled (the outbox drained, a delta sync that
changed nothing), with events, never sleeps. :func:`local_tree` and :func:`remote_tree` read
both sides as ``path -> bytes`` (a folder is ``None``): the local side through
``LocalOps.open``/``read`` (hydrating what is not cached, as a reader would), the remote side
from the fake's own drive, so one assertion compares every byte of both trees.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import trio

from onemount.engine.backoff import Backoff
from onemount.engine.cache import CacheDir
from onemount.engine.config import EngineConfig
from onemount.engine.delta_loop import DeltaConfig, DeltaLoop
from onemount.engine.engine import Engine
from onemount.engine.probe import ProbeConfig
from onemount.engine.store import EngineStore
from onemount.fakegraph import FakeDrive
from onemount.graph import Connectivity, GraphClient, GraphConfig, RetryPolicy, StaticToken
from onemount.store import ROOT_INODE
from onemount.store import queries as q
from tests.engine.delta_support import RecordingSink
from tests.engine.harness import Served

#: Retries quick enough that a test about a dropped link does not wait minutes for a give-up.
QUICK = RetryPolicy(max_attempts=4, max_total=8, backoff_base=0.05, backoff_cap=0.3)
#: The engine as the tests run it: no idle delay unless a test asks, no free-space floor.
TEST_CONFIG = EngineConfig(upload_idle_delay=0.0, min_free_bytes=0, hydrate_timeout=60.0)
CONFLICT_COPY = " (conflict copy "
#: The delta loop's prober, quick: a test brings the server back and waits for ONLINE.
QUICK_PROBE = ProbeConfig(backoff=Backoff(base=0.05, cap=0.2))


class BytesSink(RecordingSink):
    """The delta tests' recording sink, plus a wait for "this inode changed"."""

    def __init__(self) -> None:
        super().__init__()
        self._inode_waiters: dict[int, trio.Event] = {}

    def inode_changed(self, ino: int, *, content: bool) -> None:
        super().inode_changed(ino, content=content)
        event = self._inode_waiters.pop(ino, None)
        if event is not None:
            event.set()

    async def wait_inode(self, ino: int, within: float = 30.0) -> None:
        """Wait for the next change the engine reports on ``ino``."""
        with trio.fail_after(within):
            await self._inode_waiters.setdefault(ino, trio.Event()).wait()


@dataclass
class Mount:
    engine: Engine
    server: Served
    sink: BytesSink

    @property
    def drive(self) -> FakeDrive:
        return self.server.graph.drive

    @property
    def local(self) -> Any:
        return self.engine.local

    def ino(self, path: str) -> int:
        found = q.resolve_path(self.engine.store.reader, path)
        assert found is not None, f"no {path} in the store"
        return found

    def row(self, path: str) -> dict[str, Any]:
        found = q.get(self.engine.store.reader, self.ino(path))
        assert found is not None
        return found

    async def write(self, path: str, data: bytes, *, parent: int | None = None) -> int:
        """Create ``path`` (in an existing folder) with ``data``, as ``cat > path`` does."""
        folder, _, name = path.rpartition("/")
        parent = parent if parent is not None else self.ino(folder or "/")
        ino, handle = await self.local.create(parent, name, 0o644)
        if data:
            await self.local.write(handle.fh, 0, data)
        await self.local.flush(handle.fh)
        await self.local.release(handle.fh)
        return int(ino)

    async def overwrite(self, path: str, data: bytes) -> None:
        """``open(O_TRUNC)``, write, close: what most programs do to save."""
        handle = await self.local.open(self.ino(path), write=True, truncate=True)
        if data:
            await self.local.write(handle.fh, 0, data)
        await self.local.flush(handle.fh)
        await self.local.release(handle.fh)

    async def read(self, path: str) -> bytes:
        return await read_ino(self.engine, self.ino(path))

    async def mkdir(self, path: str) -> int:
        folder, _, name = path.rpartition("/")
        return int(await self.local.mkdir(self.ino(folder or "/"), name, 0o755))

    async def offline(self) -> None:
        """Take the server away and wait until the engine knows (a sync that cannot connect)."""
        await trio.to_thread.run_sync(self.server.stop)  # it blocks: not on trio's thread
        with trio.fail_after(30):
            while self.engine.connectivity.state != "OFFLINE":
                await self.engine.delta.sync()

    async def online(self) -> None:
        """Bring the server back on its port and wait for the prober to see it."""
        await trio.to_thread.run_sync(self.server.start)
        with trio.fail_after(30):
            await self.engine.connectivity.wait_online()

    def requests(self, method: str, path_part: str) -> list[Any]:
        """The fake's log of ``method`` requests whose path contains ``path_part``."""
        return [
            r
            for r in self.server.graph.faults.requests()
            if r.method == method and path_part in r.path
        ]

    def remote_id(self, path: str) -> str:
        item = self.drive.resolve(self.drive.root_id, [p for p in path.split("/") if p])
        return item.id


async def read_ino(engine: Engine, ino: int, chunk: int = 1 << 20) -> bytes:
    """Every byte of ``ino`` through LocalOps, in ``chunk``-sized reads, as ``cat`` does."""
    handle = await engine.local.open(ino, write=False, truncate=False)
    try:
        out = bytearray()
        while True:
            data = await engine.local.read(handle.fh, len(out), chunk)
            if not data:
                return bytes(out)
            out += data
    finally:
        await engine.local.release(handle.fh)


def build_engine(
    base_url: str, token: str, cache_dir: Path, config: EngineConfig, **graph: Any
) -> Engine:
    """The engine a mount would build, against the Graph at ``base_url`` (see the module)."""
    cache = CacheDir(cache_dir)
    store = EngineStore(cache.database)
    connectivity = Connectivity()
    settings = GraphConfig(base_url=base_url, policy=QUICK, rate=float("inf"), **graph)
    client = GraphClient(StaticToken(token), settings, listener=connectivity)
    engine = Engine(
        cache=cache,
        store=store,
        client=client,
        connectivity=connectivity,
        config=config,
        sink=BytesSink(),
    )
    engine.delta = DeltaLoop(engine, DeltaConfig(notifications=False, probe=QUICK_PROBE))
    return engine


@asynccontextmanager
async def mounted(
    server: Served,
    cache_dir: Path,
    config: EngineConfig = TEST_CONFIG,
    /,
    **graph: Any,
) -> AsyncIterator[Mount]:
    """A running engine on ``cache_dir`` against ``server`` (see the module doc)."""
    engine = build_engine(server.base_url, server.token, cache_dir, config, **graph)
    assert isinstance(engine.sink, BytesSink)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            yield Mount(engine, server, engine.sink)
            engine.abort()
    finally:
        assert engine.client is not None
        await engine.client.aclose()
        engine.store.close()


async def quiet(mount: Mount, within: float = 60.0) -> None:
    """Wait until local and remote agree: nothing pending in the outbox (a job waiting for
    its retry is waited for), then a delta sync that changed nothing."""
    engine = mount.engine
    with trio.fail_after(within):
        while True:
            await engine.outbox.drain()
            if engine.pending_changes() and not _only_parked(engine):
                await engine.outbox.job_ended()
                continue
            cycle = await engine.delta.sync()
            if cycle.error is not None or cycle.outcome is None:
                continue
            changed = cycle.outcome.changed or engine.outbox.busy()
            if not changed and not engine.pending_changes():
                return


def _only_parked(engine: Engine) -> bool:
    found = engine.store.reader.execute(
        "SELECT count(*) FROM intents WHERE job_state <> 'PARKED'"
    ).fetchone()
    return found is not None and int(found[0]) == 0 and engine.connectivity.state != "ONLINE"


async def local_tree(engine: Engine, folder: int = ROOT_INODE, prefix: str = "") -> dict[str, Any]:
    """``path -> bytes`` (``None`` for a folder) of every live item, read through LocalOps."""
    found: dict[str, Any] = {}
    for row in q.children(engine.store.reader, folder, limit=100_000):
        path = f"{prefix}/{row['name']}"
        if row["kind"] == "folder":
            found[path] = None
            found.update(await local_tree(engine, int(row["ino"]), path))
        else:
            found[path] = await read_ino(engine, int(row["ino"]))
    return found


def remote_tree(drive: FakeDrive) -> dict[str, Any]:
    """``path -> bytes`` (``None`` for a folder) of every live item of the fake's drive."""
    found: dict[str, Any] = {}
    pending = [(drive.root_id, "")]
    while pending:
        parent, prefix = pending.pop()
        for item in drive.children(parent, None, 100_000):
            path = f"{prefix}/{item.name}"
            if item.is_folder:
                found[path] = None
                pending.append((item.id, path))
            else:
                found[path] = drive.read_all(item.id)
    return found


async def assert_trees_equal(mount: Mount) -> dict[str, Any]:
    """After :func:`quiet`: both trees hold the same paths with the same bytes."""
    local = await local_tree(mount.engine)
    remote = remote_tree(mount.drive)
    assert sorted(local) == sorted(remote)
    differing = [p for p in local if local[p] != remote[p]]
    assert not differing, f"bytes differ at {differing}"
    return local


def conflict_copies(tree: dict[str, Any]) -> dict[str, Any]:
    return {p: data for p, data in tree.items() if CONFLICT_COPY in p}


@contextlib.contextmanager
def no_faults(server: Served) -> Iterator[None]:
    try:
        yield
    finally:
        server.graph.faults.clear()


def with_config(**changes: Any) -> EngineConfig:
    return replace(TEST_CONFIG, **changes)
