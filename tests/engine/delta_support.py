"""What the delta loop's tests stand on: a real store, a real client, the fake on loopback.

:class:`Remote` is the engine as :class:`~onemount.engine.delta_loop.DeltaLoop` sees it (its
``DeltaContext``): a real :class:`EngineStore` on a SQLite file, a real :class:`GraphClient`
over TCP to the fake Graph, reporting to a real :class:`Connectivity`, the real open-files
table. The sink records what the kernel would be told and lets a test wait for a name to
appear (an event, not a poll); the content cache's side records what each ingest reported to
it (what it does with that is tested on its own, tests/engine/test_cache.py).

:func:`fake_tree` and :func:`store_tree` read both sides as ``id -> Node`` (name, parent id,
kind, size and hash of files) so a test compares the whole drive in one assertion.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import trio

from onemount.engine.delta_loop import DeltaConfig, DeltaLoop
from onemount.engine.delta_walk import Applied
from onemount.engine.handles import OpenFiles
from onemount.engine.store import EngineStore
from onemount.fakegraph import DriveOptions, FakeDrive
from onemount.graph import Connectivity, GraphClient, GraphConfig, RetryPolicy, StaticToken
from onemount.store import ROOT_INODE, Fired, queries
from onemount.store.events import (
    HydrateRequested,
    HydrateSucceeded,
    Kind,
    LocalCreated,
    LocalModified,
    LocalOverwritten,
)
from tests.engine.harness import Served

# Quick retries: a test about connectivity should not wait two minutes for a give-up.
QUICK = RetryPolicy(max_attempts=3, max_total=10, backoff_base=0.05, backoff_cap=0.2)


class Node(NamedTuple):
    name: str
    parent: str | None
    kind: str
    size: int | None  # files only: a folder's size is derived from its subtree
    hash: str | None


class RecordingSink:
    """The FUSE layer's sink as a log, with a wait for "this name changed under that folder"."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, str]] = []
        self.inodes: list[tuple[int, bool]] = []
        self._waiting: dict[str, trio.Event] = {}
        self.seen_at: dict[str, float] = {}

    def entry_changed(self, parent: int, name: str) -> None:
        self.entries.append((parent, name))
        self.seen_at.setdefault(name, trio.current_time())
        event = self._waiting.pop(name, None)
        if event is not None:
            event.set()

    def inode_changed(self, ino: int, *, content: bool) -> None:
        self.inodes.append((ino, content))

    async def wait_for_name(self, name: str, within: float = 30.0) -> float:
        """The trio time at which an entry called ``name`` was first reported."""
        with trio.fail_after(within):
            while name not in self.seen_at:
                event = self._waiting.setdefault(name, trio.Event())
                await event.wait()
        return self.seen_at[name]


@dataclass
class RecordingContent:
    """The content cache's side of an ingest, recorded (its effects are tested on its own)."""

    fired: list[Fired] = field(default_factory=list)

    def remote_applied(self, fired: Iterable[Fired]) -> None:
        self.fired.extend(fired)

    def entered(self, state: str) -> list[int]:
        """Inodes whose applied change took them into ``state`` from another one."""
        return [f.ino for f in self.fired if f.written and f.target == state != f.source]


@dataclass
class Remote:
    """The DeltaContext of one test mount."""

    store: EngineStore
    client: GraphClient | None
    connectivity: Connectivity
    files: OpenFiles = field(default_factory=OpenFiles)
    sink: RecordingSink = field(default_factory=RecordingSink)
    content: RecordingContent = field(default_factory=RecordingContent)


def business_drive(data_dir: Path) -> Path:
    """A business-mode drive in ``data_dir`` (the mode is stored; Served then reopens it)."""
    FakeDrive(data_dir, DriveOptions(mode="business")).close()
    return data_dir


@contextlib.contextmanager
def served_fake(data_dir: Path, *, mode: str = "personal", **options: Any) -> Iterator[Served]:
    """The fake on loopback with drive ``options`` set (shuffle_delta, duplicate_delta...)."""
    if mode == "business":
        business_drive(data_dir)
    server = Served(data_dir)
    server.graph.drive.options.update(options)
    try:
        yield server
    finally:
        server.close()


@asynccontextmanager
async def remote(
    server: Served | None,
    db: Path,
    config: DeltaConfig | None = None,
    *,
    bootstrap: bool = True,
    base_url: str | None = None,
    observer: Callable[[Applied], None] | None = None,
) -> AsyncIterator[tuple[Remote, DeltaLoop]]:
    """A store at ``db``, a client for ``server`` and a DeltaLoop over them (not yet running).

    ``base_url`` points the client elsewhere (a port nobody listens on: Graph unreachable).
    """
    connectivity = Connectivity()
    store = EngineStore(db)
    client: GraphClient | None = None
    if server is not None or base_url is not None:
        token = server.token if server is not None else "none"
        url = base_url or (server.base_url if server is not None else "")
        client = GraphClient(
            StaticToken(token), GraphConfig(base_url=url, policy=QUICK), listener=connectivity
        )
    ctx = Remote(store, client, connectivity)
    loop = DeltaLoop(ctx, config or DeltaConfig(notifications=False), observer=observer)
    try:
        if bootstrap:
            await loop.bootstrap()
        yield ctx, loop
    finally:
        if client is not None:
            await client.aclose()
        store.close()


@asynccontextmanager
async def running(loop: DeltaLoop) -> AsyncIterator[DeltaLoop]:
    """``loop.run`` in a nursery for the block; leaving it cancels every task of the loop."""
    async with trio.open_nursery() as nursery:
        await nursery.start(loop.run)
        yield loop
        nursery.cancel_scope.cancel()


async def synced(loop: DeltaLoop) -> None:
    """Run syncs until one succeeds that changed nothing (the store has caught up)."""
    for _ in range(20):
        cycle = await loop.sync()
        if cycle.error is not None:
            raise cycle.error
        assert cycle.outcome is not None
        if not cycle.outcome.changed and not cycle.outcome.reconciled:
            return
    raise AssertionError("the store never caught up with the drive")


def fake_tree(drive: FakeDrive) -> dict[str, Node]:
    """Every live item of the fake's drive but the root, read in process."""
    found: dict[str, Node] = {}
    pending = [drive.root_id]
    while pending:
        parent = pending.pop()
        after = None
        while True:
            page = drive.children(parent, after, 500)
            for item in page:
                file = item.is_file
                found[item.id] = Node(
                    item.name,
                    parent,
                    "file" if file else "folder",
                    item.size if file else None,
                    item.qxh if file else None,
                )
                if item.is_folder:
                    pending.append(item.id)
            if len(page) < 500:
                break
            after = (page[-1].name_key, page[-1].id)
    return found


def store_tree(store: EngineStore, *, states: bool = False) -> dict[str, Node]:
    """Every live item of the store but the root, as the server knows it (its remote id)."""
    rows = store.reader.execute(
        "SELECT c.item_id, c.name, p.item_id, c.kind, c.size, c.remote_hash FROM items c"
        " JOIN items p ON p.ino = c.parent_ino WHERE c.state <> 'DELETED_LOCAL' AND c.ino <> ?",
        (ROOT_INODE,),
    )
    return {
        str(i): Node(
            str(n), str(p), str(k), int(s) if k == "file" else None, h if k == "file" else None
        )
        for i, n, p, k, s, h in rows
    }


def state_of(store: EngineStore, item_id: str) -> str:
    found = store.reader.execute("SELECT state FROM items WHERE item_id = ?", (item_id,)).fetchone()
    assert found is not None, f"no row for {item_id}"
    return str(found[0])


def ino_of(store: EngineStore, item_id: str) -> int:
    found = store.reader.execute("SELECT ino FROM items WHERE item_id = ?", (item_id,)).fetchone()
    assert found is not None, f"no row for {item_id}"
    return int(found[0])


class Admin:
    """The fake's admin API over HTTP: changes made "on another device"."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=f"{server.origin}/_fake")

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, url, json=body)
        assert response.status_code < 300, f"{method} {url}: {response.text}"
        return response.json() if response.content else None

    async def create(
        self, name: str, *, parent: str | None = None, folder: bool = False, text: str = ""
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "folder": folder}
        if parent is None:
            body["path"] = "/"
        else:
            body["parent"] = parent
        if not folder:
            body["text"] = text
        result: dict[str, Any] = await self._call("POST", "/items", body)
        return result

    async def edit(self, item_id: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("PATCH", f"/items/{item_id}", changes)
        return result

    async def try_create(self, name: str, *, parent: str, folder: bool, text: str = "") -> str:
        """A create the drive may refuse (a name taken): ``"created <id>"`` or the refusal."""
        body: dict[str, Any] = {"name": name, "folder": folder, "parent": parent}
        if not folder:
            body["text"] = text
        response = await self.http.post("/items", json=body)
        if response.status_code == 201:
            return f"created {response.json()['id']}"
        assert response.status_code in (400, 409), response.text
        return f"refused {response.status_code}"

    async def try_edit(self, item_id: str, **changes: Any) -> str:
        """An edit the drive may refuse (a name taken at the destination)."""
        response = await self.http.patch(f"/items/{item_id}", json=changes)
        if response.status_code == 200:
            return "done"
        assert response.status_code in (400, 409), response.text
        return f"refused {response.status_code}"

    async def delete(self, item_id: str) -> None:
        await self._call("DELETE", f"/items/{item_id}")

    async def expire_delta(self) -> None:
        await self._call("POST", "/expire-delta")


@asynccontextmanager
async def admin(server: Served) -> AsyncIterator[Admin]:
    client = Admin(server)
    try:
        yield client
    finally:
        await client.aclose()


async def local_edit(ctx: Remote, ino: int, size: int = 5) -> None:
    """A write through the mount, as the FUSE layer reports it to the store: a file that has
    no bytes here yet is overwritten (``echo x > file``), one that has them is modified."""
    mtime = 1_700_000_000.0
    ghost = row_of(ctx.store, ino)["state"] == "GHOST"
    payload: LocalModified | LocalOverwritten = (
        LocalOverwritten(size=size, mtime=mtime, cached_hash=None)
        if ghost
        else LocalModified(size=size, mtime=mtime, cached_hash=None)
    )
    await ctx.store.write(lambda m: m.fire(ino, payload))


async def hydrated(ctx: Remote, ino: int) -> None:
    """The file's bytes downloaded and verified, as the hydrator reports it."""
    digest = row_of(ctx.store, ino)["remote_hash"]
    await ctx.store.write(lambda m: m.fire(ino, HydrateRequested()))
    await ctx.store.write(lambda m: m.fire(ino, HydrateSucceeded(cached_hash=digest)))


async def local_create(ctx: Remote, parent: int, name: str, kind: Kind = "file") -> int:
    """A file or folder created through the mount (not uploaded yet); its inode."""
    payload = LocalCreated(parent=parent, name=name, kind=kind, size=0, mtime=1.0, mode=None)
    fired = await ctx.store.write(lambda m: m.fire(None, payload))
    return fired.ino


def row_of(store: EngineStore, ino: int) -> dict[str, Any]:
    found = queries.get(store.reader, ino)
    assert found is not None, f"no inode {ino}"
    return found
