"""Connectivity: the client's outcome reports, run through the declared connectivity machine.

The states (ONLINE, THROTTLED, OFFLINE, AUTH_REQUIRED) and every transition between them live
in ``spec/connectivity.yaml``; this class only maps each report to its event and fires it on the
compiled table, so there is no second, hand-written copy of the machine here. Waiters can block
on :meth:`wait_online`; a THROTTLED state expires on its own when its Retry-After runs out, fired
by whoever is waiting for it, so the class needs no background task of its own.
"""

from __future__ import annotations

import math

import trio

from onemount.statemachine import CompiledMachine, compiled

ONLINE = "ONLINE"
THROTTLED = "THROTTLED"


class Connectivity:
    """An :class:`~onemount.graph.outcomes.OutcomeListener` holding the connectivity state."""

    def __init__(self, machine: CompiledMachine | None = None) -> None:
        self._machine = machine or compiled("connectivity")
        self.state = self._machine.initial
        self.throttled_until = -math.inf  # trio time when the last Retry-After ends
        self._changed = trio.Event()

    # -- reports from the client (the OutcomeListener protocol) ---------------------------------

    def request_ok(self) -> None:
        self._fire("request_ok")

    def throttled(self, retry_after: float) -> None:
        self.throttled_until = max(self.throttled_until, trio.current_time() + retry_after)
        self._fire("throttled")

    def network_error(self) -> None:
        self._fire("network_error")

    def auth_failed(self) -> None:
        self._fire("auth_failed")

    # -- reports from the engine -----------------------------------------------------------------

    def probe_ok(self) -> None:
        """A probe (``GraphClient.drive()``) answered while the engine believed us offline."""
        self._fire("probe_ok")

    def auth_renewed(self) -> None:
        """The user signed in again; the only way out of AUTH_REQUIRED."""
        self._fire("auth_renewed")

    # -- waiting -----------------------------------------------------------------------------------

    async def wait_for_change(self) -> str:
        """Wait until the state changes; return the new state."""
        await self._changed.wait()
        return self.state

    async def wait_online(self) -> None:
        """Return once the state is ONLINE, expiring a throttle when its time has come."""
        while self.state != ONLINE:
            if self.state == THROTTLED:
                with trio.move_on_at(self.throttled_until):
                    await self._changed.wait()
                if self.state == THROTTLED and trio.current_time() >= self.throttled_until:
                    self._fire("throttle_expired")
            else:
                await self._changed.wait()

    def _fire(self, event: str) -> None:
        target = self._machine.fire(self.state, event)
        if target != self.state:
            self.state = target
            self._changed.set()
            self._changed = trio.Event()
