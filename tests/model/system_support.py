"""The real runtime as the system conformance run drives it: no kernel, no mocks.

:class:`System` owns one fake Graph served from a thread on 127.0.0.1 (the same drive, token
and port across stops and starts) and one runtime on a cache directory: the real
:class:`~onemount.engine.engine.Engine` (store on a SQLite file, cache files, a Graph client
over TCP) with the FUSE layer's :class:`~onemount.fs.operations.Operations` on top, called the
way the kernel calls it. The engine runs in a trio loop on a thread of its own
(:class:`TrioThread`) for the whole example; each step of the state machine is one call into
that loop, so the delta loop, the outbox, the hydrator and the cache keep running between
calls exactly as in a mount.

What keeps a run deterministic (Hypothesis must see the same system for the same choices):
nothing happens between steps. Notifications are off and the polling cadence never comes due
(``IDLE``), the content sweep never comes due by itself, uploads wait ``upload_idle_delay``
(5 s: a step is over long before), and every online step that changed something ends with
:meth:`System.quiet`, which waits on the engine's own events (the outbox drained, a delta
sync, no download running) until a sync changes nothing. A crash is :meth:`System.crash`:
every in-memory object goes and the store and cache are opened again from disk.

Observations (:meth:`System.tree`, :meth:`System.check_store`) read the mount through the
operations layer (readdir, getattr, open/read/release of the files whose bytes are cached)
and the store through the spec's own invariants.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import pyfuse3
import trio

from onemount.engine.backoff import Backoff
from onemount.engine.cache import CacheDir
from onemount.engine.cadence import CadenceConfig
from onemount.engine.config import EngineConfig
from onemount.engine.delta_loop import DeltaConfig, DeltaLoop
from onemount.engine.delta_walk import Applied
from onemount.engine.engine import Engine
from onemount.engine.hydrator import CACHED
from onemount.engine.probe import ProbeConfig
from onemount.engine.store import EngineStore
from onemount.fakegraph import DriveOptions, FakeDrive, FaultRule
from onemount.fakegraph.faults import LoggedRequest
from onemount.fs import status
from onemount.fs.operations import Changes, Operations
from onemount.graph import Connectivity, GraphClient, GraphConfig, RetryPolicy, StaticToken
from onemount.statemachine import compiled
from onemount.store import ROOT_INODE
from onemount.store import queries as q
from onemount.store.validate import validate
from tests.engine.harness import Served

T = TypeVar("T")

#: Never comes due: the model decides when the runtime syncs.
IDLE = 1e9
#: Client retries quick enough that a dropped link costs a fraction of a second.
POLICY = RetryPolicy(max_attempts=4, max_total=20, backoff_base=0.02, backoff_cap=0.1)
#: Uploads wait 5 s after the last change: no step lasts that long, so nothing is sent in the
#: middle of one (an editor's save is one change, as it should be), and a retry that comes
#: due after a step has ended is sent that long after the change.
CONFIG = EngineConfig(upload_idle_delay=5.0, min_free_bytes=0, hydrate_timeout=30.0)
CTX = pyfuse3.RequestContext()
#: How long one step may take before the run calls it a hang (a real step takes milliseconds).
STEP_TIMEOUT = 60.0
#: Syncs in a row that may still change something before quiet() calls it a loop.
MAX_ROUNDS = 12
#: Jobs one drain may run before it is a loop (a step queues a handful).
MAX_JOBS = 60


class NotConverging(AssertionError):
    """The runtime keeps changing things with nothing left to do (an upload loop...)."""


class Unexpected(logging.Handler):
    """Collects what the runtime logs with a traceback: an exception it did not expect is a
    bug even when it recovers (it logs and retries), so the run fails on it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None:
            self.records.append(record)

    def check(self, context: str = "") -> None:
        records, self.records = self.records, []
        if records:
            text = "\n".join(logging.Formatter().format(r) for r in records)
            raise AssertionError(
                f"the runtime hit an exception it did not expect:\n{text}{context}"
            )


# -- the trio side ------------------------------------------------------------------------------


class TrioThread:
    """A trio run on its own thread for the whole example; :meth:`call` runs a coroutine in it."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.nursery: trio.Nursery | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = STEP_TIMEOUT) -> T:
        async def bounded() -> T:
            with trio.fail_after(timeout):
                return await fn(*args)

        return trio.from_thread.run(bounded, trio_token=self._token)

    def close(self) -> None:
        if self._stop is not None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=30)


# -- what the mount shows -----------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One entry as the operations layer shows it: bytes only where the cache holds them (a
    ghost's are not fetched by looking, so looking changes nothing)."""

    name: str
    parent: int
    folder: bool
    size: int
    content: bytes | None
    remote_hash: str | None


@dataclass(frozen=True)
class Outcome:
    """What a call through the operations layer answered: a value, or the errno."""

    value: Any = None
    errno: int | None = None

    @property
    def ok(self) -> bool:
        return self.errno is None


async def attempt(call: Awaitable[T]) -> Outcome:
    try:
        return Outcome(await call)
    except pyfuse3.FUSEError as exc:
        return Outcome(errno=exc.errno)


@dataclass
class Collector:
    """readdir's reply function: every entry the kernel would take."""

    entries: list[tuple[str, pyfuse3.EntryAttributes]] = field(default_factory=list)

    def reply(
        self, token: pyfuse3.ReaddirToken, name: bytes, attrs: pyfuse3.EntryAttributes, nxt: int
    ) -> bool:
        self.entries.append((name.decode(), attrs))
        return True


# -- the system ---------------------------------------------------------------------------------


class System:
    """The fake Graph and one runtime on ``root``; see the module docstring."""

    def __init__(self, root: Path, *, mode: Literal["personal", "business"] = "personal") -> None:
        self.root = root
        if mode != "personal":  # the mode is the drive's own, stored when it is made
            FakeDrive(root / "fake", DriveOptions(mode=mode)).close()
        self.server = Served(root / "fake")
        self.online = True
        self.trio = TrioThread()
        self.http = httpx.Client(timeout=30)
        self.engine: Engine | None = None
        self.ops: Operations | None = None
        self.collector = Collector()
        self.applied: list[Applied] = []
        self._applied: trio.Event | None = None
        self._logged = threading.Condition()
        faults = self.server.graph.faults
        record = faults.record

        def recorded(entry: LoggedRequest) -> None:  # the fake's request log, observed
            record(entry)
            with self._logged:
                self._logged.notify_all()

        faults.record = recorded  # type: ignore[method-assign]
        self._stopped: trio.Event | None = None
        self._journal_seq = 0
        self.unexpected = Unexpected()
        logging.getLogger("onemount").addHandler(self.unexpected)
        self._states: dict[int, str] = {}  # each item's state as the journal last left it

    @property
    def drive(self) -> FakeDrive:
        return self.server.graph.drive

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        self.trio.call(self._start)

    async def _start(self) -> None:
        cache = CacheDir(self.root / "cache")
        store = EngineStore(cache.database)
        connectivity = Connectivity()
        graph = GraphConfig(base_url=self.server.base_url, policy=POLICY, rate=float("inf"))
        client = GraphClient(StaticToken(self.server.token), graph, listener=connectivity)
        engine = Engine(
            cache=cache, store=store, client=client, connectivity=connectivity, config=CONFIG
        )
        cadence = CadenceConfig(safety_net=IDLE, active=IDLE, idle=IDLE)
        probe = ProbeConfig(backoff=Backoff(base=0.02, cap=0.1))
        delta = DeltaConfig(notifications=False, cadence=cadence, probe=probe)
        engine.delta = DeltaLoop(engine, delta, observer=self._on_applied)
        engine.content.sweep_interval = IDLE
        engine.outbox.draw = engine.hydrator.draw = lambda: 0.5
        self.engine = engine
        self.ops = Operations(engine, reply=self.collector.reply)
        stopped = self._stopped = trio.Event()

        async def run(task_status: trio.TaskStatus[None]) -> None:
            try:
                await engine.run(task_status=task_status)
            finally:
                stopped.set()

        assert self.trio.nursery is not None
        await self.trio.nursery.start(run)

    def _on_applied(self, applied: Applied) -> None:
        self.applied.append(applied)
        if self._applied is not None:
            self._applied.set()

    async def until_logged(self, wanted: Callable[[LoggedRequest], bool]) -> None:
        """Wait until the fake has answered (or dropped) a request ``wanted`` says is it."""
        faults = self.server.graph.faults

        def wait() -> None:
            with self._logged:
                if not self._logged.wait_for(
                    lambda: any(wanted(r) for r in faults.requests()), timeout=STEP_TIMEOUT / 2
                ):
                    raise AssertionError("the request never reached the fake")

        await trio.to_thread.run_sync(wait)

    def during_upload(self, ino: int, content: bytes, then: Callable[[], Awaitable[None]]) -> None:
        """Overwrite ``ino``, start sending it (its PUT held at the fake a while), and run
        ``then`` once the upload job has started, while its request is still out."""
        self.faults(FaultRule(path="/v1.0/*/content", method="PUT", latency=0.3, count=1))
        self.trio.call(self._during_upload, ino, content, then)

    async def _during_upload(
        self, ino: int, content: bytes, then: Callable[[], Awaitable[None]]
    ) -> None:
        done = await self._write(ino, 0, content, True)
        assert done.ok, done
        outbox = self._engine().outbox
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbox.drain)
            await outbox.job_started()
            await then()
            nursery.cancel_scope.cancel()

    def answer_lost(self, ino: int, content: bytes) -> None:
        """Overwrite ``ino``; the fake takes the upload but its answer is lost, and the retry
        is held at the fake while a delta sync runs: delta brings our own upload back before
        the runtime has heard that it landed (its echo)."""
        put = "/v1.0/*/content"
        self.faults(
            FaultRule(path=put, method="PUT", drop="response", drop_after=0, count=1),
            FaultRule(path=put, method="PUT", latency=0.5, count=1),
        )
        self.trio.call(self._answer_lost, ino, content)

    async def _answer_lost(self, ino: int, content: bytes) -> None:
        engine = self._engine()
        done = await self._write(ino, 0, content, True)
        assert done.ok, done
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.outbox.drain)
            await self.until_logged(lambda r: r.method == "PUT" and r.status is None)
            await engine.delta.sync()
        self.clear_faults()

    def crash_mid_delta(self) -> None:
        """Start a delta sync and crash once its first page is applied."""
        self.trio.call(self._crash_mid_delta)
        self.start()

    async def _crash_mid_delta(self) -> None:
        engine = self._engine()
        self._applied = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.delta.sync)
            await self._applied.wait()
            self._applied = None
            await self._stop_engine()
            nursery.cancel_scope.cancel()

    def crash(self) -> None:
        """Every in-memory object goes (as when the process is killed); then start again."""
        self.trio.call(self._stop_engine)
        self.start()
        if not self.online:  # a new engine thinks itself online until a request fails
            self.trio.call(self._until_offline)

    async def _stop_engine(self) -> None:
        engine, stopped = self.engine, self._stopped
        assert engine is not None and stopped is not None
        engine.abort()
        await stopped.wait()
        if engine.client is not None:
            await engine.client.aclose()
        for fd in list(getattr(engine.local, "_fds", {}).values()):
            os.close(fd)  # descriptors of handles open at the crash: the process took them
        engine.store.close()
        self.engine = self.ops = None

    def close(self) -> None:
        try:
            if self.engine is not None:
                self.trio.call(self._stop_engine)
        finally:
            logging.getLogger("onemount").removeHandler(self.unexpected)
            self.trio.close()
            self.http.close()
            self.server.close()

    # -- connectivity ----------------------------------------------------------------------------

    def go_offline(self) -> None:
        """The server goes away; one sync that cannot connect tells the engine so."""
        self.server.stop()
        self.online = False
        self.trio.call(self._until_offline)

    async def _until_offline(self) -> None:
        """Syncs until one fails for want of the server (the link then reads OFFLINE)."""
        engine = self._engine()

        async def syncing() -> None:
            while True:
                await engine.delta.sync()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(syncing)
            while engine.connectivity.state != "OFFLINE":
                await engine.connectivity.wait_for_change()
            nursery.cancel_scope.cancel()

    def go_online(self) -> None:
        """The server comes back on its port; the prober sees it, then everything settles."""
        self.server.start()
        self.online = True
        self.trio.call(self._until_online)
        self.quiet()

    async def _until_online(self) -> None:
        await self._engine().connectivity.wait_online()

    # -- the other device ------------------------------------------------------------------------

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """The fake's admin API, over HTTP (only while the server is up)."""
        assert self.online, "the admin API is served with the Graph API"
        return self.http.request(method, f"{self.server.origin}/_fake{path}", json=body)

    def faults(self, *rules: FaultRule) -> None:
        for rule in rules:
            self.server.graph.faults.add(rule)

    def clear_faults(self) -> None:
        self.server.graph.faults.clear()

    # -- settling --------------------------------------------------------------------------------

    def quiet(self) -> int:
        """Wait until both sides agree (see the module docstring); how many syncs it took."""
        return self.trio.call(self._quiet)

    async def _quiet(self) -> int:
        engine = self._engine()
        doing = "starting"
        with trio.move_on_after(STEP_TIMEOUT / 2):
            for rounds in range(1, MAX_ROUNDS + 1):
                doing = f"round {rounds}: draining the outbox"
                await _drain(engine)
                if _waiting_jobs(engine):
                    # A mount's polling syncs while a job waits: the retry may need that news
                    # (a move into a folder deleted there succeeds once the folder is back).
                    doing = f"round {rounds}: a delta sync while a job waits to retry"
                    await engine.delta.sync()
                    if _waiting_jobs(engine):  # the sync may have ended it
                        doing = f"round {rounds}: waiting for a job to retry"
                        await engine.outbox.job_ended()  # a retry comes due: wait for it
                    continue
                doing = f"round {rounds}: waiting for downloads"
                await engine.hydrator.idle()
                doing = f"round {rounds}: a delta sync"
                cycle = await engine.delta.sync()
                if cycle.error is not None or cycle.outcome is None:
                    continue
                doing = f"round {rounds}: waiting for downloads after the sync"
                await engine.hydrator.idle()
                if cycle.outcome.changed or engine.outbox.busy() or _unsettled(engine):
                    continue
                return rounds
            raise NotConverging(f"still changing after {MAX_ROUNDS} syncs: {_pending(engine)}")
        raise NotConverging(f"no quiet after {STEP_TIMEOUT / 2:g} s ({doing}): {_pending(engine)}")

    def settle_hydration(self) -> None:
        """Wait for a sweep (pins) and every download it started."""
        self.trio.call(self._settle_hydration)

    async def _settle_hydration(self) -> None:
        engine = self._engine()
        await engine.content.swept()
        await engine.hydrator.idle()

    def evict(self) -> None:
        """Evict everything the cache may evict (the limit set to nothing for one sweep)."""
        self.trio.call(self._evict)

    async def _evict(self) -> None:
        engine = self._engine()
        config = engine.config
        engine.config = replace(config, cache_limit_bytes=0)
        try:
            await engine.content.sweep()
        finally:
            engine.config = config

    def set_delta(self, *, page: int, shuffle: bool, repeat: bool) -> None:
        self.drive.options.update(
            {"delta_page_size": page, "shuffle_delta": shuffle, "duplicate_delta": repeat}
        )

    # -- through the operations layer --------------------------------------------------------

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.trio.call(fn, *args)

    def create(self, parent: int, name: str, content: bytes) -> Outcome:
        """``cat > name``: create, write, close; the value is the new inode."""
        return self.trio.call(self._create, parent, name, content)

    async def _create(self, parent: int, name: str, content: bytes) -> Outcome:
        ops = self._ops()
        made = await attempt(
            ops.create(parent, name.encode(), stat.S_IFREG | 0o644, os.O_WRONLY, CTX)
        )
        if not made.ok:
            return made
        info, attrs = made.value
        if content:
            await ops.write(info.fh, 0, content)
        await ops.flush(info.fh)
        await ops.release(info.fh)
        return Outcome(int(attrs.st_ino))

    def mkdir(self, parent: int, name: str) -> Outcome:
        return self.trio.call(self._mkdir, parent, name)

    async def _mkdir(self, parent: int, name: str) -> Outcome:
        made = await attempt(self._ops().mkdir(parent, name.encode(), stat.S_IFDIR | 0o755, CTX))
        return made if not made.ok else Outcome(int(made.value.st_ino))

    def write(self, ino: int, offset: int, data: bytes, *, truncate: bool) -> Outcome:
        """open (``O_TRUNC`` or not), one write at ``offset``, close."""
        return self.trio.call(self._write, ino, offset, data, truncate)

    async def _write(self, ino: int, offset: int, data: bytes, truncate: bool) -> Outcome:
        ops = self._ops()
        flags = os.O_WRONLY | (os.O_TRUNC if truncate else 0)
        opened = await attempt(ops.open(ino, flags, CTX))
        if not opened.ok:
            return opened
        fh = opened.value.fh
        try:
            if data:
                written = await attempt(ops.write(fh, offset, data))
                if not written.ok:
                    return written
            return await attempt(ops.flush(fh))
        finally:
            await ops.release(fh)

    def truncate(self, ino: int, size: int) -> Outcome:
        return self.trio.call(self._truncate, ino, size)

    async def _truncate(self, ino: int, size: int) -> Outcome:
        attrs = pyfuse3.EntryAttributes()
        attrs.st_size = size
        return await attempt(self._ops().setattr(ino, attrs, Changes(update_size=True), None, CTX))

    def read(self, ino: int) -> Outcome:
        """open, read to the end, close; the value is the bytes."""
        return self.trio.call(self._read, ino)

    async def _read(self, ino: int) -> Outcome:
        ops = self._ops()
        opened = await attempt(ops.open(ino, os.O_RDONLY, CTX))
        if not opened.ok:
            return opened
        fh = opened.value.fh
        out = bytearray()
        try:
            while True:
                got = await attempt(ops.read(fh, len(out), 1 << 16))
                if not got.ok:
                    return got
                if not got.value:
                    return Outcome(bytes(out))
                out += got.value
        finally:
            await ops.release(fh)

    def rename(self, parent: int, name: str, new_parent: int, new_name: str) -> Outcome:
        return self.trio.call(self._rename, parent, name, new_parent, new_name)

    async def _rename(self, parent: int, name: str, new_parent: int, new_name: str) -> Outcome:
        return await attempt(
            self._ops().rename(parent, name.encode(), new_parent, new_name.encode(), 0, CTX)
        )

    def unlink(self, parent: int, name: str) -> Outcome:
        return self.trio.call(self._remove, "unlink", parent, name)

    def rmdir(self, parent: int, name: str) -> Outcome:
        return self.trio.call(self._remove, "rmdir", parent, name)

    async def _remove(self, how: str, parent: int, name: str) -> Outcome:
        ops = self._ops()
        call = ops.unlink if how == "unlink" else ops.rmdir
        return await attempt(call(parent, name.encode(), CTX))

    def pin(self, ino: int, pinned: bool) -> Outcome:
        return self.trio.call(self._pin, ino, pinned)

    async def _pin(self, ino: int, pinned: bool) -> Outcome:
        value = b"1" if pinned else b"0"
        return await attempt(self._ops().setxattr(ino, status.PINNED, value, CTX))

    def lookup(self, parent: int, name: str) -> int | None:
        found = self.trio.call(self._lookup, parent, name)
        return found or None

    async def _lookup(self, parent: int, name: str) -> int:
        return int((await self._ops().lookup(parent, name.encode(), CTX)).st_ino)

    # -- observations ----------------------------------------------------------------------------

    def tree(self) -> dict[int, Seen]:
        """Every entry the mount shows, by inode (read through the operations layer)."""
        return self.trio.call(self._tree)

    async def _tree(self) -> dict[int, Seen]:
        ops = self._ops()
        reader = self._engine().store.reader
        found: dict[int, Seen] = {}
        pending = [ROOT_INODE]
        while pending:
            folder = pending.pop()
            fh = await ops.opendir(folder, CTX)
            self.collector.entries = []
            await ops.readdir(fh, 0, pyfuse3.ReaddirToken())
            await ops.releasedir(fh)
            for name, attrs in self.collector.entries:
                ino = int(attrs.st_ino)
                is_folder = stat.S_ISDIR(attrs.st_mode)
                row = q.get(reader, ino)
                assert row is not None, f"{name!r} (inode {ino}) is listed but has no row"
                content = None
                if not is_folder and _cached(row):
                    read = await self._read(ino)
                    assert read.ok, f"{name!r} (inode {ino}): reading its cached bytes: {read}"
                    content = read.value
                found[ino] = Seen(
                    name, folder, is_folder, int(attrs.st_size), content, row["remote_hash"]
                )
                if is_folder:
                    pending.append(ino)
        return found

    def cached(self, ino: int) -> bool:
        """Whether the cache holds ``ino``'s bytes (the runtime's choice: eviction, hydration)."""
        return self.trio.call(self._cached, ino)

    async def _cached(self, ino: int) -> bool:
        row = q.get(self._engine().store.reader, ino)
        return row is not None and _cached(row)

    def check_store(self) -> None:
        self.trio.call(self._check_store)

    async def _check_store(self) -> None:
        if self.unexpected.records:
            journal = self._engine().store.reader.execute(
                "SELECT seq, ino, machine, from_state, event, to_state, detail FROM journal"
                " ORDER BY seq DESC LIMIT 40"
            )
            self.unexpected.check("\nthe journal, last first:\n" + "\n".join(map(str, journal)))
        """Every row satisfies its state's invariants and the global ones (the spec's own
        expressions, as ``onemount store validate`` reads them), and every journal row since
        the last check is a transition the spec declares, continuing where the item was."""
        reader = self._engine().store.reader
        findings = validate(reader)
        assert not findings, "the store breaks the spec:\n" + "\n".join(map(str, findings))
        rows = list(
            reader.execute(
                "SELECT seq, ino, machine, from_state, event, to_state FROM journal"
                " WHERE seq > ? ORDER BY seq",
                (self._journal_seq,),
            )
        )
        item = compiled("item")
        for seq, ino, machine, source, event, target in rows:
            self._journal_seq = seq
            if machine != "item":
                continue
            legal = {t.target for t in item.candidates(source, event)}
            assert target in legal, (
                f"journal {seq}: inode {ino} {source} --{event}--> {target}: the spec allows"
                f" {sorted(legal) or 'nothing'}"
            )
            was = self._states.get(ino, "ABSENT")
            assert source == was, f"journal {seq}: inode {ino} leaves {source}, but was {was}"
            self._states[ino] = target

    # -- helpers ---------------------------------------------------------------------------------

    def _engine(self) -> Engine:
        assert self.engine is not None
        return self.engine

    def _ops(self) -> Operations:
        assert self.ops is not None
        return self.ops


async def _drain(engine: Engine) -> None:
    """The outbox drained, or NotConverging when it keeps sending (a job that always comes
    back: the re-upload loop)."""
    outbox = engine.outbox
    start = outbox.completed

    async def watch() -> None:
        while True:
            await outbox.job_ended()
            if outbox.completed - start > MAX_JOBS:
                raise NotConverging(f"{MAX_JOBS} jobs in one drain: {_pending(engine)}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        await outbox.drain()
        nursery.cancel_scope.cancel()


def _cached(row: dict[str, Any]) -> bool:
    return row["state"] in CACHED or (row["state"] == "ERROR" and bool(row["has_local_changes"]))


def _waiting_jobs(engine: Engine) -> bool:
    """A job waits for its retry time (throttled, a transient failure) while online."""
    if engine.connectivity.state == "OFFLINE":
        return False
    found = engine.store.reader.execute(
        "SELECT count(*) FROM intents WHERE job_state = 'WAITING_RETRY'"
    ).fetchone()
    return bool(found and found[0])


def _unsettled(engine: Engine) -> bool:
    """Something is still to do: an intent, a conflict the policy has not resolved yet."""
    if engine.pending_changes():
        return True
    found = engine.store.reader.execute(
        "SELECT count(*) FROM items WHERE state IN ('CONFLICT', 'HYDRATING')"
    ).fetchone()
    return bool(found and found[0])


def _pending(engine: Engine) -> str:
    """What is left, for a message: the states, the intents, the link."""
    reader = engine.store.reader
    states = dict(reader.execute("SELECT state, count(*) FROM items GROUP BY state"))
    intents = list(
        reader.execute(
            "SELECT ino, kind, job_state, attempts, round(next_attempt - ?, 1), last_error"
            " FROM intents",
            (time.time(),),
        )
    )
    rows = list(
        reader.execute(
            "SELECT i.ino, i.name, i.parent_ino, i.state, i.remote_id IS NOT NULL, p.state,"
            " p.remote_id IS NOT NULL FROM items i LEFT JOIN items p ON p.ino = i.parent_ino"
            " WHERE i.state NOT IN ('HYDRATED', 'GHOST') OR i.ino IN (SELECT ino FROM intents)"
        )
    )
    return (
        f"states {states}, intents (ino, kind, state, attempts, due in s, error) {intents},"
        f" rows (ino, name, parent, state, on server, parent's state, parent on server) {rows},"
        f" link {engine.connectivity.state}"
    )


__all__ = ["CONFIG", "NotConverging", "Outcome", "Seen", "System", "attempt"]
