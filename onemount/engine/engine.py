"""The engine of one mount: every network task, one nursery, and what the FUSE layer may ask.

The FUSE layer (``onemount/fs``) reads the store itself (lookups, attributes, listings, on the
trio thread through :attr:`Engine.store`'s reader) and asks the engine for everything else:
content (:meth:`Engine.open` waits for a GHOST file's hydration), changes (create, write,
rename, delete...), and the first listing of a folder delta has not reached yet. The engine does
it through the spec (``StateManager.fire``) and its workers; it never imports the FUSE layer and
reports applied remote changes to an :class:`~.sink.InvalidationSink` instead.

Structure (trio): :meth:`Engine.run` owns one nursery with the delta loop, the change notifier,
the hydration workers, the outbox worker and the cache's eviction; :meth:`Engine.shutdown`
drains the outbox until the drain deadline and cancels the rest, so no task outlives the mount.
Components live in their own modules and take the engine as their context:

* :mod:`.delta_loop` remote to local (delta, notifications, resync, on-demand listings);
* :mod:`.hydrator` downloads; :mod:`.content` the content cache (limits, LRU, pins);
* :mod:`.outbox_worker` uploads, mkdirs, moves, deletes; :mod:`.local` the FUSE layer's changes;
* :mod:`.conflicts` listing and resolving conflicts.
"""

from __future__ import annotations

import logging

import trio

from onemount.engine.cache import CacheDir
from onemount.engine.config import EngineConfig
from onemount.engine.handles import OpenFiles
from onemount.engine.sink import InvalidationSink, NullSink
from onemount.engine.store import EngineStore
from onemount.graph import Connectivity, GraphClient

log = logging.getLogger(__name__)


class Engine:
    """One mount's engine. Build it, then ``await engine.run(task_status=...)`` in a nursery."""

    def __init__(
        self,
        *,
        cache: CacheDir,
        store: EngineStore,
        client: GraphClient | None,
        connectivity: Connectivity,
        config: EngineConfig,
        sink: InvalidationSink | None = None,
    ) -> None:
        # Imported here: the components import this module for typing only, and each is
        # written against the engine's attributes below.
        from onemount.engine.conflicts import Conflicts
        from onemount.engine.content import ContentCache
        from onemount.engine.delta_loop import DeltaConfig, DeltaLoop
        from onemount.engine.hydrator import Hydrator
        from onemount.engine.local import LocalOps
        from onemount.engine.outbox_worker import OutboxWorker

        self.cache = cache
        self.store = store
        self.client = None if config.offline else client
        self.connectivity = connectivity
        self.config = config
        self.sink: InvalidationSink = sink or NullSink()
        self.files = OpenFiles()
        self.delta = DeltaLoop(self, DeltaConfig(notifications=config.notifications))
        self.hydrator = Hydrator(self)
        self.content = ContentCache(self)
        self.outbox = OutboxWorker(self)
        self.local = LocalOps(self)
        self.conflicts = Conflicts(self)
        self._scope: trio.CancelScope | None = None
        self._stopping = trio.Event()

    @property
    def online(self) -> bool:
        return self.client is not None and self.connectivity.state == "ONLINE"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start up (the mount machine), serve until :meth:`shutdown`, then drain and stop.

        ``task_status.started()`` is called as soon as the store can answer the FUSE layer: at
        once with metadata_v2 present (Graph is caught up with in the background), after the
        root is known on a first run. A first run with Graph unreachable raises
        :class:`~onemount.engine.delta_loop.BootstrapFailed`.
        """
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                await self.delta.bootstrap()
                await self.store.write(lambda m: m.recover_jobs())
                await self.hydrator.recover()
                for component in (self.delta, self.hydrator, self.content, self.outbox):
                    await nursery.start(component.run)
                task_status.started()
                await self._stopping.wait()
                with trio.move_on_after(self.config.drain_deadline):
                    await self.outbox.drain()
                nursery.cancel_scope.cancel()

    def shutdown(self) -> None:
        """Drain the outbox for at most the drain deadline, then stop every task."""
        self._stopping.set()

    def abort(self) -> None:
        """Stop at once (what is pending stays durable for the next start)."""
        if self._scope is not None:
            self._scope.cancel()

    def pending_changes(self) -> int:
        """How many changes are still waiting for the server (for unmount's message)."""
        found = self.store.reader.execute("SELECT count(*) FROM intents").fetchone()
        return int(found[0]) if found else 0
