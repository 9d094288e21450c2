"""When the next delta poll is due: adaptive polling, and the wait for "due or woken".

Change notifications make a delta run at once; polling is what finds changes when they are
unavailable (refused, dropped, blocked by a tenant) and the safety net when they work (a
notification can be lost on the way, and a socket can look open while nothing flows). The
numbers (docs/notifications.md explains them):

==========================================  ===============================================
notifications healthy                        a safety-net delta 15 min after the last one
notifications unavailable, just active       5 s after the last local activity or remote change
notifications unavailable, quiet             half the time things had been quiet, 5 s to 60 s
after a failed delta                         2 s, doubling to 5 min (jittered down to half)
==========================================  ===============================================

:class:`Cadence` is the policy alone: plain state and arithmetic, every method given the time,
so tests state exact instants and need no clock. :class:`Doorbell` is the trio side: the delta
loop awaits :meth:`Doorbell.wait`, which returns when the cadence says a poll is due or when a
notification rang (coalesced: any number of rings while a delta runs make one more delta).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from onemount.engine.backoff import Backoff


@dataclass(frozen=True)
class CadenceConfig:
    """The cadence's numbers, in seconds (the defaults are the documented ones).

    * ``safety_net``: with notifications healthy, a delta at most this long after the last.
    * ``active``: without notifications, the delay right after local activity or a remote change.
    * ``idle``: without notifications, the longest delay, reached after ``idle / idle_ratio``
      of quiet.
    * ``idle_ratio``: in between, the delay is this fraction of how long things had been quiet
      when the last poll ran (a geometric slow-down: 5, 5, 5, 7.5, 11, 17, 25, 38, 57, then 60 s).
    * ``failure``: after a failed delta, whatever the notifications say.
    """

    safety_net: float = 15 * 60.0
    active: float = 5.0
    idle: float = 60.0
    idle_ratio: float = 0.5
    failure: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=300.0))

    def __post_init__(self) -> None:
        if not 0 < self.active <= self.idle:
            raise ValueError("the cadence needs 0 < active <= idle")
        if self.safety_net <= 0 or self.idle_ratio <= 0:
            raise ValueError("safety_net and idle_ratio must be positive")


class Cadence:
    """The polling policy; times are trio times (any monotonic seconds in tests).

    The delta loop reports each finished delta (:meth:`note_success` / :meth:`note_failure`,
    plus :meth:`note_remote_change` when it applied something); the engine reports local
    activity (an edit, an upload, a folder opened) and the notifier's health. ``draw`` is the
    jitter source, read once per failure so that :meth:`next_delay` stays a pure function.
    """

    def __init__(
        self, config: CadenceConfig | None = None, *, draw: Callable[[], float] = random.random
    ) -> None:
        self.config = config or CadenceConfig()
        self._draw = draw
        self._last_poll: float | None = None  # when the last delta ended, either way
        self._quiet_at_poll = math.inf  # how long nothing had happened, then
        self._last_activity: float | None = None
        self._failures = 0
        self._failure_delay = 0.0
        self._healthy = False

    # -- what happened -----------------------------------------------------------------------

    def note_local_activity(self, now: float) -> None:
        """Something changed here (an edit, an upload): remote echoes and replies come soon."""
        self._last_activity = now

    def note_remote_change(self, now: float) -> None:
        """A delta brought changes: changes come in bursts, so look again soon."""
        self._last_activity = now

    def note_success(self, now: float) -> None:
        """A delta walk finished (whatever triggered it): the clock restarts from here."""
        self._polled(now)
        self._failures = 0

    def note_failure(self, now: float) -> None:
        """A delta walk failed: retry sooner than the normal interval, backing off."""
        self._polled(now)
        self._failures += 1
        self._failure_delay = self.config.failure.delay(self._failures, self._draw())

    def notifications_healthy(self, healthy: bool) -> None:
        """Whether change notifications are flowing (the notifier's CONNECTED state)."""
        self._healthy = healthy

    def _polled(self, now: float) -> None:
        self._last_poll = now
        activity = self._last_activity
        self._quiet_at_poll = math.inf if activity is None else max(0.0, now - activity)

    # -- what to do ----------------------------------------------------------------------------

    @property
    def failures(self) -> int:
        return self._failures

    def next_delay(self, now: float) -> float:
        """Seconds from ``now`` until the next poll is due (0: now)."""
        return max(0.0, self._due() - now)

    def _due(self) -> float:
        if self._last_poll is None:
            return -math.inf  # never polled: poll at once
        if self._failures:
            return self._last_poll + self._failure_delay
        if self._healthy:
            return self._last_poll + self.config.safety_net
        config = self.config
        quiet = config.idle_ratio * self._quiet_at_poll
        due = self._last_poll + min(config.idle, max(config.active, quiet))
        activity = self._last_activity
        if activity is not None and activity >= self._last_poll:
            due = min(due, activity + config.active)  # activity since the last poll
        return due


class Wake(enum.Enum):
    """Why :meth:`Doorbell.wait` returned."""

    RUNG = "rung"  # a notification (or anyone) asked for a delta now
    DUE = "due"  # the cadence's delay ran out


class Doorbell:
    """The delta loop's wait: "a poll is due" or "someone rang", whichever comes first.

    :meth:`ring` and :meth:`reschedule` are plain functions that never block, so they can be
    handed to the notifier as its wake callback and called from any task of the loop. Rings
    coalesce: however many arrive before :meth:`wait` looks, it returns RUNG once.
    """

    def __init__(self) -> None:
        self._rung = False
        self._changed = trio.Event()

    def ring(self) -> None:
        """Ask for a delta now (a change notification, the socket back after a gap)."""
        self._rung = True
        self._changed.set()

    def reschedule(self) -> None:
        """The cadence changed (local activity, notifier health): recompute the deadline."""
        self._changed.set()

    async def wait(self, cadence: Cadence) -> Wake:
        """Return RUNG if rung (now or while waiting), else DUE when the cadence says so."""
        await trio.lowlevel.checkpoint()
        while True:
            if self._rung:
                self._rung = False
                return Wake.RUNG
            delay = cadence.next_delay(trio.current_time())
            if delay <= 0:
                return Wake.DUE
            with trio.move_on_after(delay):
                await self._changed.wait()
            if self._changed.is_set():
                self._changed = trio.Event()
