"""One mount's life: the engine started, the kernel mounted, served, unmounted, drained.

:func:`serve` runs in ``trio.run`` and returns when the mount is over. The order is chosen so
that nothing is ever half there:

1. **Lock.** The control socket for the mountpoint is bound (:mod:`.control`: a second daemon
   for the same path fails here) and the cache folder is locked (``flock``), so two mounts
   never share one store.
2. **Engine first.** ``Engine.run`` starts: from metadata_v2 alone it answers at once; on a
   first run it needs the drive's root and raises ``BootstrapFailed`` when Graph is
   unreachable, before anything is mounted.
3. **Mount.** ``pyfuse3.init`` mounts; the invalidation sink starts; the mount is *ready* when
   a ``stat`` of the mountpoint, served by this very loop, has come back. Only then is the
   caller told (``--daemon``'s parent exits, systemd hears ``READY=1``).
4. **End.** The kernel side goes away in one of three ways: ``onemount unmount`` (a plain
   ``fusermount3 -u``, refused while files are open, so the user is told instead of having
   programs lose their files), someone else's ``fusermount3 -u``/``umount``, or SIGINT/SIGTERM
   (``pyfuse3.terminate``, then a lazy unmount, which never fails). A second signal stops the
   engine at once.
5. **Drain.** ``Engine.shutdown`` sends what is pending until the drain deadline; whatever is
   left stays in the outbox, durable in SQLite, for the next mount. The number of changes still
   pending is the result (``onemount unmount`` prints it).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyfuse3
import trio

from onemount import control_commands, sdnotify
from onemount.engine.cache import CacheDir
from onemount.engine.config import EngineConfig
from onemount.engine.engine import Engine
from onemount.engine.store import EngineStore
from onemount.fs import control
from onemount.fs.control import Answer
from onemount.fs.kernel import KernelSink, KernelView
from onemount.fs.mountpoint import UnmountFailed, unmount
from onemount.fs.operations import Operations
from onemount.fs.tuning import raise_read_ahead
from onemount.graph import Connectivity, GraphClient, GraphConfig, TokenProvider

log = logging.getLogger("onemount.fs")

Ending = Literal["unmount", "unmounted", "signal"]
#: Seconds the new mount has to answer its first request before the start is called failed.
_READY_TIMEOUT = 60.0


class CacheInUse(Exception):
    """Another mount holds this cache folder."""


@dataclass(frozen=True)
class GraphEndpoint:
    """Where the mount's Graph is and how it proves who it is."""

    base_url: str
    tokens: TokenProvider


@dataclass(frozen=True)
class MountPlan:
    """Everything one mount needs, decided by the CLI before anything starts."""

    mountpoint: Path
    cache_dir: Path
    engine: EngineConfig
    graph: GraphEndpoint | None  # None: no client at all (``--offline``)
    read_ahead_kb: int | None = 1024


@dataclass(frozen=True)
class Ended:
    """How a mount ended and what it left for the next one."""

    how: Ending
    pending: int


def mount_options(plan: MountPlan) -> set[str]:
    """The kernel mount options: named ``onemount``, kernel-checked permissions, no atime."""
    options = {"fsname=onemount", "subtype=onemount", "default_permissions", "noatime"}
    options |= {"nodev", "nosuid"}
    if plan.engine.read_only:
        options.add("ro")
    return options


@contextmanager
def locked(cache: CacheDir) -> Iterator[None]:
    """Hold the cache folder for this process (released by the kernel if it dies)."""
    fd = os.open(cache.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheInUse(f"{cache.root} is in use by another onemount mount") from None
        yield
    finally:
        os.close(fd)


async def serve(plan: MountPlan, ready: Callable[[], None]) -> Ended:
    """Mount ``plan``, call ``ready`` once the mount answers, serve until it ends (see module)."""
    listener = await control.bind(plan.mountpoint)
    with listener:
        cache = CacheDir(plan.cache_dir)
        with locked(cache):
            store = EngineStore(cache.database, worker=f"mount-{os.getpid()}")
            connectivity = Connectivity()
            client = None
            if plan.graph is not None and not plan.engine.offline:
                client = GraphClient(
                    plan.graph.tokens,
                    GraphConfig(base_url=plan.graph.base_url),
                    listener=connectivity,
                )
            sink = KernelSink(KernelView())
            engine = Engine(
                cache=cache,
                store=store,
                client=client,
                connectivity=connectivity,
                config=plan.engine,
                sink=sink,
            )
            try:
                session = _Session(plan, engine, Operations(engine, sink=sink), sink)
                return await session.run(listener, ready)
            finally:
                if client is not None:
                    await client.aclose()
                store.close()


async def _then_set(fn: Callable[[], Awaitable[None]], done: trio.Event) -> None:
    try:
        await fn()
    finally:
        done.set()


class _Session:
    """The mounted part of :func:`serve`."""

    def __init__(self, plan: MountPlan, engine: Engine, ops: Operations, sink: KernelSink):
        self.plan = plan
        self.engine = engine
        self.ops = ops
        self.sink = sink
        self.how: Ending = "unmounted"
        self.terminated = False  # pyfuse3.terminate was called: the kernel side is still there
        self.detached = False  # the kernel unmounted us (fusermount3 -u): nothing left to unmount
        self.kernel_gone = trio.Event()  # pyfuse3.main is over, one way or another
        self.ended: Ended | None = None
        self.finished = trio.Event()

    async def run(self, listener: trio.socket.SocketType, ready: Callable[[], None]) -> Ended:
        mountpoint = self.plan.mountpoint
        engine_done = trio.Event()

        async def run_engine(task_status: trio.TaskStatus[None]) -> None:
            try:
                await self.engine.run(task_status=task_status)
            finally:
                engine_done.set()

        async with trio.open_nursery() as nursery:
            await nursery.start(run_engine)
            pyfuse3.init(self.ops, str(mountpoint), mount_options(self.plan))
            try:
                self.sink.start()
                nursery.start_soon(self._fuse_main)
                nursery.start_soon(self._signals)
                server = control.Server(listener, self._command)
                server_done = trio.Event()
                nursery.start_soon(_then_set, server.run, server_done)
                with trio.fail_after(_READY_TIMEOUT):  # the stat is served by this very loop
                    await trio.to_thread.run_sync(os.stat, mountpoint, abandon_on_cancel=True)
                if self.plan.read_ahead_kb:
                    raise_read_ahead(mountpoint, self.plan.read_ahead_kb)
                log.info("mounted %s", mountpoint)
                sdnotify.notify("READY=1", f"STATUS=serving {mountpoint}")
                ready()
                await self.kernel_gone.wait()
            finally:
                self.sink.stop()
                pyfuse3.close(unmount=not self.detached)  # after a crash too: no dead mount
            log.info("%s unmounted (%s); sending what is pending", mountpoint, self.how)
            sdnotify.notify("STOPPING=1", "STATUS=sending pending changes")
            self.engine.shutdown()
            await engine_done.wait()
            self.ended = Ended(self.how, self.engine.pending_changes())
            self.finished.set()
            log.info("%s: %d changes still pending", mountpoint, self.ended.pending)
            server.close()
            with trio.move_on_after(5):  # let an `onemount unmount` in progress hear its answer
                await server_done.wait()
            nursery.cancel_scope.cancel()
        return self.ended

    async def _fuse_main(self) -> None:
        try:
            await pyfuse3.main()
            self.detached = not self.terminated
        finally:
            self.kernel_gone.set()

    async def _signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if not self.kernel_gone.is_set():
                    log.info("%s: unmounting", signal.Signals(signum).name)
                    self.how, self.terminated = "signal", True
                    pyfuse3.terminate()
                else:
                    log.warning("second signal: stopping now (pending changes stay queued)")
                    self.engine.abort()

    async def _command(self, command: str) -> Answer:
        if command == "status":
            return self._status()
        if command == "sync":
            return await self._sync()
        if command != "unmount":
            return await control_commands.answer(self.engine, command)
        if not self.kernel_gone.is_set():
            self.how = "unmount"
            try:
                await trio.to_thread.run_sync(unmount, self.plan.mountpoint)
            except UnmountFailed as exc:
                self.how = "unmounted"
                return {"error": str(exc)}
        await self.finished.wait()
        assert self.ended is not None
        return {
            "unmounted": str(self.plan.mountpoint),
            "pending": self.ended.pending,
            "pid": os.getpid(),
        }

    async def _sync(self) -> Answer:
        """Send what is ready, then run a delta sync that starts now (``onemount sync``)."""
        if self.kernel_gone.is_set():
            return {"error": "unmounting"}
        await self.engine.outbox.drain()
        cycle = await self.engine.delta.sync()
        await self.sink.flushed()  # the mount shows what was synced when the answer comes
        changed = None if cycle.outcome is None else cycle.outcome.changed
        return {
            "changed": changed,
            "delta_error": None if cycle.error is None else str(cycle.error),
            "pending": self.engine.pending_changes(),
        }

    def _status(self) -> Answer:
        return {
            "pid": os.getpid(),
            "mountpoint": str(self.plan.mountpoint),
            "cache_dir": str(self.plan.cache_dir),
            "connectivity": self.engine.connectivity.state,
            "pending": self.engine.pending_changes(),
            "kernel_inodes": self.ops.kernel.known(),
        }
