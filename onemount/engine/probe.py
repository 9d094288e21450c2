"""Is Graph there? One short ``GET /me/drive``, and the task that asks it while offline.

Connectivity (``spec/connectivity.yaml``) is fed by every request's outcome: the Graph client
reports each answer and each give-up to :class:`~onemount.graph.Connectivity`. What the
requests cannot do is notice that the network came back while nothing is being sent, which is
exactly the state OFFLINE puts the engine in (the delta loop waits, uploads park). The
:class:`Prober` does that: while the state is OFFLINE it probes with jittered exponential
backoff (1 s doubling to 60 s: a blip is over within a second or two, a long outage costs one
small request a minute), and on an answer fires ``probe_ok``, which brings the state back to
ONLINE and everyone waiting on it back to work.

AUTH_REQUIRED (a 401 that a silent refresh could not cure) is left only by ``auth_renewed``:
the user signed in again, typically with ``onemount auth login`` in another terminal, which
writes the token cache this mount's token provider reads. The prober notices it: while the
state is AUTH_REQUIRED it probes too, slowly (10 s doubling to 5 min: each probe costs a silent
refresh attempt), and a probe that Graph answers with the drive proves a valid token again, so
it fires ``auth_renewed``. Nothing ever prompts.

A probe is a single attempt (or three, quickly, at start-up) rather than the client's usual
two minutes of retries: its whole point is an answer now. Any HTTP answer means Graph is
reachable, even a refusal (the spec's ``graph_reachable``: "any status but a transport
error"); only a transport failure means it is not.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from onemount.engine.backoff import Backoff
from onemount.graph import Connectivity, Drive, GraphClient, GraphError, Offline, RetryPolicy
from onemount.graph.core import Request, json_body
from onemount.graph.items import parse_drive

log = logging.getLogger(__name__)

OFFLINE = "OFFLINE"
AUTH_REQUIRED = "AUTH_REQUIRED"


@dataclass(frozen=True)
class ProbeConfig:
    """How probes are made: ``quick`` for one probe in the background, ``startup`` for the
    first run's question "can we enumerate at all", ``backoff`` between probes while offline,
    ``auth_backoff`` between probes while a sign-in is required."""

    quick: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=1, max_total=15))
    startup: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            max_attempts=3, max_total=15, backoff_base=0.2, backoff_cap=1.0
        )
    )
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=60.0))
    auth_backoff: Backoff = field(default_factory=lambda: Backoff(base=10.0, cap=300.0))


@dataclass(frozen=True)
class ProbeResult:
    """``reachable`` unless the probe failed on transport; ``drive`` when it answered 200."""

    reachable: bool
    drive: Drive | None = None
    error: GraphError | None = None


async def probe(client: GraphClient, policy: RetryPolicy) -> ProbeResult:
    """``GET {drive}`` under ``policy``; never raises a GraphError (it is the answer)."""
    core = client.core
    request = Request("GET", client.config.drive)
    try:
        response = await core.retry(lambda attempt: core.send(request, attempt), policy=policy)
        return ProbeResult(True, parse_drive(json_body(response)))
    except Offline as exc:
        return ProbeResult(False, error=exc)
    except GraphError as exc:
        return ProbeResult(True, error=exc)


class Prober:
    """While connectivity is OFFLINE, probe with backoff until Graph answers; while it is
    AUTH_REQUIRED, until a probe succeeds with a valid token."""

    def __init__(
        self,
        client: GraphClient,
        connectivity: Connectivity,
        config: ProbeConfig | None = None,
        *,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.connectivity = connectivity
        self.config = config or ProbeConfig()
        self._draw = draw
        self.probes = 0  # probes sent, for status and tests

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            state = self.connectivity.state
            if state == OFFLINE:
                await self._until(OFFLINE, self.config.backoff)
            elif state == AUTH_REQUIRED:
                await self._until(AUTH_REQUIRED, self.config.auth_backoff)
            else:
                await self.connectivity.wait_for_change()

    async def _until(self, state: str, backoff: Backoff) -> None:
        """Probe while the state is ``state``, backing off, until a probe settles it."""
        failures = 0
        while self.connectivity.state == state:
            self.probes += 1
            result = await probe(self.client, self.config.quick)
            if state == OFFLINE and result.reachable:
                log.info("Graph answered a probe: back online")
                self.connectivity.probe_ok()
                return
            if state == AUTH_REQUIRED and result.drive is not None:
                log.info("a probe succeeded with a valid token: signed in again")
                self.connectivity.auth_renewed()
                return
            failures += 1
            wait = backoff.delay(failures, self._draw())
            log.debug("probe %d failed (%s); next in %.1f s", failures, result.error, wait)
            with trio.move_on_after(wait):
                # Another request (a FUSE read, a listing) may settle it first.
                while self.connectivity.state == state:
                    await self.connectivity.wait_for_change()
