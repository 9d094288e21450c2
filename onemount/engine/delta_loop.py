"""Remote to local: the delta loop, change notifications, connectivity probes, start-up.

:class:`DeltaLoop` is the engine's component for everything that comes *from* the server
(docs/engine.md, "Remote to local", "Connectivity", "Start-up"):

* :meth:`DeltaLoop.bootstrap` runs the mount machine's first step (:mod:`.bootstrap`): serve
  from metadata_v2 at once, or on a first run fetch the root and enumerate in the background,
  or fail with :class:`BootstrapFailed`.
* :meth:`DeltaLoop.run` owns three tasks in one nursery: the loop that runs a delta sync
  (:mod:`.delta_walk`) whenever the polling cadence says so or a change notification rings
  (:mod:`.cadence`, :mod:`.notifications`), the notifier itself, and the :class:`~.probe.Prober`
  that brings connectivity back while it is OFFLINE. Cancelling the nursery stops them all.
* :meth:`DeltaLoop.list_children` lists a folder the first enumeration has not reached yet
  (:mod:`.listing`), so a first run is usable at once.

Connectivity (``spec/connectivity.yaml``) is fed by the Graph client, which reports every
request's outcome to the :class:`~onemount.graph.Connectivity` it was built with (the mount
builds the client with ``listener=connectivity``). The loop reads it: OFFLINE, it waits for the
prober; AUTH_REQUIRED, it waits for a new sign-in (``auth_renewed``) and never prompts; a
THROTTLED state waits out its Retry-After. Back ONLINE, delta resumes from the stored cursor
at once and the notifier reconnects.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from onemount.engine.bootstrap import BootstrapFailed, bootstrap
from onemount.engine.cadence import Cadence, CadenceConfig, Doorbell
from onemount.engine.delta_walk import (
    Applied,
    Applier,
    Outcome,
    RemoteContext,
    WalkConfig,
    Walker,
)
from onemount.engine.listing import Listings
from onemount.engine.notifications import ChangeNotifier, NotifierConfig, NotifierHealth
from onemount.engine.probe import ProbeConfig, Prober, probe
from onemount.graph import Connectivity, GraphClient, GraphError, Quota
from onemount.statemachine import compiled

__all__ = ["BootstrapFailed", "DeltaConfig", "DeltaContext", "DeltaLoop"]

log = logging.getLogger(__name__)


class DeltaContext(RemoteContext, Protocol):
    """The engine as the delta loop sees it (:class:`~.engine.Engine` satisfies it)."""

    @property
    def connectivity(self) -> Connectivity: ...


@dataclass(frozen=True)
class DeltaConfig:
    """The delta loop's knobs (docs/engine.md and docs/notifications.md give the numbers).

    ``notifications``: subscribe to change notifications (False: polling alone).
    ``listing_timeout``: how long opening a folder waits for its on-demand listing before it
    is shown as the store knows it (and statfs for a quota reading).
    ``quota_ttl``: how long a quota reading is reused.
    ``miss_interval``: lookups that find nothing ring for a delta at most this often.
    """

    cadence: CadenceConfig = field(default_factory=CadenceConfig)
    notifier: NotifierConfig = field(default_factory=NotifierConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    walk: WalkConfig = field(default_factory=WalkConfig)
    notifications: bool = True
    listing_timeout: float = 10.0
    quota_ttl: float = 30.0
    miss_interval: float = 2.0


@dataclass(frozen=True)
class Cycle:
    """One finished sync: its number, and its outcome or the error that ended it."""

    number: int
    outcome: Outcome | None
    error: GraphError | None


class DeltaLoop:
    """Remote to local for one mount (see the module doc)."""

    def __init__(
        self,
        engine: DeltaContext,
        config: DeltaConfig | None = None,
        *,
        observer: Callable[[Applied], None] | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.config = config = config or DeltaConfig()
        self.cadence = Cadence(config.cadence, draw=draw)
        self.doorbell = Doorbell()
        self.applier = Applier(engine, observer)
        self.walker = Walker(engine, self.applier, config.walk)
        self.listings = Listings(engine, self.applier, timeout=config.listing_timeout)
        self.mount_state = compiled("mount").initial
        self.notifier: ChangeNotifier | None = None
        self.prober: Prober | None = None
        self.last: Cycle | None = None
        self._draw = draw
        self._cycles = 0
        self._looping = False
        self._cycle_done: trio.Event | None = None
        self._quota: tuple[float, Quota | None] | None = None
        self._last_miss_ring = -math.inf

    # -- start-up ----------------------------------------------------------------------------

    async def bootstrap(self) -> None:
        """The mount machine's first step; raises :class:`BootstrapFailed` for FAILED."""
        try:
            started = await bootstrap(self.engine.store, self.engine.client, self.config.probe)
        except BootstrapFailed:
            self.mount_state = "FAILED"
            raise
        self.mount_state = started.state
        self.listings.complete = started.enumerated

    @property
    def enumerated(self) -> bool:
        """Whether a walk of the whole drive has completed (folders need no listing)."""
        return self.listings.complete

    # -- what the engine and the FUSE layer call ---------------------------------------------

    def wake(self) -> None:
        """Run a delta now (a notification, a lookup that missed, ``onemount sync``)."""
        self.doorbell.ring()

    def note_lookup_miss(self) -> None:
        """A lookup found no such name: it may exist on the server already, so look soon.

        The reference kept a listing that missed a child stale forever (onemount-reference.md
        §9 L-listing-refresh). A miss rings for a delta, at most once per
        ``miss_interval``: a shell's completion or ``git status`` probes many names that do
        not exist, and each burst is worth one small delta, not one each.
        """
        now = trio.current_time()
        if now - self._last_miss_ring >= self.config.miss_interval:
            self._last_miss_ring = now
            self.doorbell.ring()

    def note_local_activity(self) -> None:
        """Something changed here: poll sooner for a while (its echo and replies come soon)."""
        self.cadence.note_local_activity(trio.current_time())
        self.doorbell.reschedule()

    async def list_children(self, ino: int) -> bool:
        """Make the store hold folder ``ino``'s children before the FUSE layer lists it.

        Returns at once without a request once the first enumeration is complete or the folder
        was listed before; otherwise lists it through ``/children`` and merges (never removing
        anything). False when that listing failed or timed out: the store shows what it knew.
        """
        return await self.listings.ensure(ino)

    async def quota(self) -> Quota | None:
        """The drive's quota for statfs: reused for ``quota_ttl`` s, the last one when offline."""
        now = trio.current_time()
        if self._quota is not None and now - self._quota[0] < self.config.quota_ttl:
            return self._quota[1]
        client = self.engine.client
        if client is None or self.engine.connectivity.state != "ONLINE":
            return None if self._quota is None else self._quota[1]
        result = None
        with trio.move_on_after(self.config.listing_timeout):  # statfs must not hang on Graph
            result = await probe(client, self.config.probe.quick)
        if result is not None and result.drive is not None:
            self._quota = (now, result.drive.quota)
        elif self._quota is not None:
            self._quota = (now, self._quota[1])
        return None if self._quota is None else self._quota[1]

    async def sync(self) -> Cycle:
        """Ring and wait for a delta sync that started after this call; return how it ended."""
        if not self._looping:
            raise RuntimeError("the delta loop is not running (start DeltaLoop.run first)")
        wanted = self._cycles + 1  # a sync running now started before: the next one
        self.wake()
        while True:
            if self.last is not None and self.last.number >= wanted:
                return self.last
            if self._cycle_done is None:
                self._cycle_done = trio.Event()
            await self._cycle_done.wait()

    # -- the tasks ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sync until cancelled: the delta loop, the notifier and the prober, in one nursery."""
        client = self.engine.client
        try:
            await self._run(client, task_status)
        finally:
            self._looping = False

    async def _run(self, client: GraphClient | None, task_status: trio.TaskStatus[None]) -> None:
        async with trio.open_nursery() as nursery:
            if client is not None:
                self.prober = Prober(
                    client, self.engine.connectivity, self.config.probe, draw=self._draw
                )
                nursery.start_soon(self.prober.run)
                if self.config.notifications:
                    self.notifier = ChangeNotifier(
                        client,
                        wake=self.doorbell.ring,
                        on_health=self._notifier_health,
                        config=self.config.notifier,
                        draw=self._draw,
                    )
                    nursery.start_soon(self.notifier.run)
                nursery.start_soon(self._follow_connectivity)
                nursery.start_soon(self._loop)
                self._looping = True
            task_status.started()

    def _notifier_health(self, health: NotifierHealth) -> None:
        self.cadence.notifications_healthy(health.healthy)
        self.doorbell.reschedule()

    async def _follow_connectivity(self) -> None:
        """Back ONLINE: delta from the stored cursor at once, and the notifier reconnects."""
        connectivity = self.engine.connectivity
        while True:
            before = connectivity.state
            after = await connectivity.wait_for_change()
            if after == "ONLINE" and before != "ONLINE":
                log.info("connectivity %s -> ONLINE: catching up", before)
                self.doorbell.ring()
                if self.notifier is not None:
                    self.notifier.reconnect_now()

    async def _loop(self) -> None:
        connectivity = self.engine.connectivity
        while True:
            await self.doorbell.wait(self.cadence)
            # OFFLINE: the prober brings it back; AUTH_REQUIRED: only a new sign-in does;
            # THROTTLED: wait_online expires it when its Retry-After has run out.
            await connectivity.wait_online()
            self._cycles += 1
            number = self._cycles
            try:
                outcome = await self.walker.sync()
            except GraphError as exc:
                log.warning("delta failed: %s", exc)
                self.cadence.note_failure(trio.current_time())
                self._finish(Cycle(number, None, exc))
                continue
            now = trio.current_time()
            if outcome.changed:
                self.cadence.note_remote_change(now)
            self.cadence.note_success(now)
            if outcome.completed and not self.listings.complete:
                self.listings.complete = True
                log.info("the first enumeration is complete (%d entries)", outcome.entries)
            if outcome.completed and self.mount_state == "ENUMERATING":
                self.mount_state = compiled("mount").fire(self.mount_state, "enumeration_done")
            self._finish(Cycle(number, outcome, None))

    def _finish(self, cycle: Cycle) -> None:
        self.last = cycle
        if self._cycle_done is not None:
            self._cycle_done.set()
            self._cycle_done = None
