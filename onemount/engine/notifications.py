"""Change notifications: a Socket.IO connection to OneDrive that says "something changed".

:class:`ChangeNotifier` keeps one Engine.IO v4 connection over trio-websocket, for as long as
the task runs (docs/notifications.md has the protocol and every number):

* **subscribe** with :meth:`GraphClient.subscribe_socketio` (retried and classified by the
  Graph client), connect to ``…/socket.io/?EIO=4&transport=websocket&<its query>``, join ``/``
  and ``/notifications``, and answer every ping;
* **wake**: every ``notification`` event calls ``wake()`` (non-blocking; the delta loop
  coalesces). So does every successful join, because a change made while the socket was
  down was notified to nobody and only a delta finds it;
* **detect death**: no ping within pingInterval + pingTimeout, a close, ``41``, or a protocol
  error ends the connection;
* **renew** the subscription ``renew_early`` (120 s, as abraunegg) before its
  ``expirationDateTime``: a fresh subscription and a fresh connection, with no backoff;
* **reconnect** after a failure with jittered exponential backoff (1 s doubling to 5 min);
  the count starts over once a connection has lived ``stable_after`` (60 s), so a server that
  accepts and drops at once backs off instead of being hammered;
* **give way**: a subscription the service refuses (403 on accounts or tenants that block
  notifications, any other non-transient answer) makes the state UNAVAILABLE with the reason,
  and it is asked again only after ``unavailable_retry`` (30 min). Polling covers meanwhile.

Its :class:`NotifierHealth` (CONNECTING, CONNECTED, BACKOFF, UNAVAILABLE, with a reason) is
reported through ``on_health`` and :meth:`ChangeNotifier.wait_for`, so the delta loop can poll
faster whenever it is not CONNECTED. The notificationUrl's query is a credential: it is never
logged (:func:`~onemount.graph.subscriptions.redact_url`, also applied to trio-websocket's own
debug lines) and never part of a reason.
"""

from __future__ import annotations

import enum
import logging
import math
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    DisconnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from onemount.engine import engineio
from onemount.engine.backoff import Backoff
from onemount.graph.errors import AuthRequired, GraphError, Offline, ServerError, Throttled
from onemount.graph.subscriptions import SocketIoSubscription, redact_url

log = logging.getLogger(__name__)

# Failures of the subscription call worth a reconnect with backoff; any other GraphError
# (403, 400, 404, a malformed answer) is the service saying no, and makes the notifier
# UNAVAILABLE until ``unavailable_retry``.
_TRANSIENT = (Offline, Throttled, ServerError, AuthRequired)


class _RedactQuery(logging.Filter):
    """trio-websocket logs the resource it connects to, token and all, at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_url(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


logging.getLogger("trio-websocket").addFilter(_RedactQuery())


class Subscriber(Protocol):
    """Where subscriptions come from: :class:`~onemount.graph.GraphClient` is one."""

    async def subscribe_socketio(self) -> SocketIoSubscription: ...


class NotifierState(enum.Enum):
    CONNECTING = "connecting"  # subscribing, connecting, joining
    CONNECTED = "connected"  # joined: notifications flow
    BACKOFF = "backoff"  # the last attempt failed; the next one is ``retry_in`` away
    UNAVAILABLE = "unavailable"  # the service refused the subscription; polling only


@dataclass(frozen=True)
class NotifierHealth:
    """The notifier's state, why it is in it, and when it tries again (BACKOFF, UNAVAILABLE)."""

    state: NotifierState
    reason: str = ""
    retry_in: float | None = None  # seconds, from when the state was entered
    failures: int = 0  # failed attempts in a row

    @property
    def healthy(self) -> bool:
        """Whether notifications flow (what the polling cadence needs to know)."""
        return self.state is NotifierState.CONNECTED


@dataclass(frozen=True)
class NotifierConfig:
    """The notifier's numbers, in seconds (docs/notifications.md explains the defaults)."""

    reconnect: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=300.0))
    unavailable_retry: float = 30 * 60.0
    renew_early: float = 120.0
    min_renew_after: float = 30.0
    stable_after: float = 60.0
    connect_timeout: float = 15.0  # TCP, TLS, WebSocket upgrade, and Engine.IO open + join
    close_timeout: float = 2.0  # for the closing handshake of a socket we leave
    max_message_size: int = 1 << 20


def renewal_delay(expires: datetime | None, now: float, config: NotifierConfig) -> float:
    """Seconds from ``now`` (epoch) until a subscription expiring at ``expires`` is renewed.

    ``renew_early`` before expiry; a subscription shorter than twice that is renewed halfway;
    never sooner than ``min_renew_after`` (a server whose clock says "already expired" must not
    make a renewal loop). No expiry: never.
    """
    if expires is None:
        return math.inf
    remaining = expires.timestamp() - now
    return max(config.min_renew_after, remaining - config.renew_early, remaining / 2)


@dataclass(frozen=True)
class _Ended:
    """How one attempt ended: ``refused`` (UNAVAILABLE), ``failed`` (BACKOFF) or ``renew``."""

    kind: Literal["refused", "failed", "renew"]
    reason: str
    uptime: float = 0.0  # how long it was CONNECTED


class ChangeNotifier:
    """One Socket.IO notification connection, kept up by :meth:`run` (see the module doc).

    ``wake`` is called on every notification and every (re)join; it must not block (a
    :meth:`~onemount.engine.cadence.Doorbell.ring`). ``on_health`` is called with each new
    :class:`NotifierHealth`; it must not block either. ``draw`` (jitter) and ``wall_clock``
    (compared with ``expirationDateTime``) are injectable for tests; ``ssl_context`` is for
    ``wss`` (None: the system's default verification).
    """

    def __init__(
        self,
        subscriber: Subscriber,
        *,
        wake: Callable[[], None],
        on_health: Callable[[NotifierHealth], None] | None = None,
        config: NotifierConfig | None = None,
        ssl_context: ssl.SSLContext | None = None,
        draw: Callable[[], float] = random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or NotifierConfig()
        self._subscriber = subscriber
        self._wake = wake
        self._on_health = on_health
        self._ssl_context = ssl_context
        self._draw = draw
        self._wall_clock = wall_clock
        self._health = NotifierHealth(NotifierState.CONNECTING)
        self._changed = trio.Event()
        self._retry_now = trio.Event()
        self._task_status: trio.TaskStatus[NotifierHealth] | None = None

    @property
    def health(self) -> NotifierHealth:
        return self._health

    async def wait_for(self, *states: NotifierState) -> NotifierHealth:
        """Return the health once its state is one of ``states`` (at once if it is already)."""
        if not states:
            raise ValueError("wait_for needs at least one state")
        await trio.lowlevel.checkpoint()
        while self._health.state not in states:
            await self._changed.wait()
        return self._health

    def reconnect_now(self) -> None:
        """Cut a BACKOFF or UNAVAILABLE wait short (the network just came back, say).

        In any other state it does nothing: it is not remembered for a later wait.
        """
        if self._health.state in (NotifierState.BACKOFF, NotifierState.UNAVAILABLE):
            self._retry_now.set()

    async def run(
        self, *, task_status: trio.TaskStatus[NotifierHealth] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep notifications flowing until cancelled; never returns otherwise.

        With ``nursery.start``, it is started once the first attempt has an outcome (CONNECTED,
        BACKOFF or UNAVAILABLE), whose health it hands back: whether to rely on push or to poll.
        """
        self._task_status = task_status
        failures = 0
        reason = ""
        while True:
            self._set(NotifierHealth(NotifierState.CONNECTING, reason, failures=failures))
            ended = await self._attempt()
            if ended.kind == "renew":
                failures, reason = 0, ended.reason
                continue
            if ended.kind == "refused":
                failures, wait = 0, self.config.unavailable_retry
                self._set(NotifierHealth(NotifierState.UNAVAILABLE, ended.reason, wait))
            else:
                stable = ended.uptime >= self.config.stable_after
                failures = 1 if stable else failures + 1
                wait = self.config.reconnect.delay(failures, self._draw())
                self._set(NotifierHealth(NotifierState.BACKOFF, ended.reason, wait, failures))
            reason = ended.reason
            with trio.move_on_after(wait):
                await self._retry_now.wait()
            self._retry_now = trio.Event()

    # -- one attempt -----------------------------------------------------------------------------

    async def _attempt(self) -> _Ended:
        try:
            subscription = await self._subscriber.subscribe_socketio()
        except _TRANSIENT as exc:
            return _Ended("failed", f"subscription failed: {type(exc).__name__}")
        except GraphError as exc:
            return _Ended("refused", f"subscription refused: {_describe(exc)}")
        url = engineio.socket_url(subscription.notification_url)
        renew_in = renewal_delay(subscription.expires, self._wall_clock(), self.config)
        renew_at = trio.current_time() + renew_in
        log.debug("notifications: connecting to %s", redact_url(url))
        ended: _Ended | None = None
        try:
            async with open_websocket_url(
                url,
                self._ssl_context if url.startswith("wss:") else None,
                connect_timeout=self.config.connect_timeout,
                disconnect_timeout=self.config.close_timeout,
                max_message_size=self.config.max_message_size,
            ) as socket:
                ended = await self._converse(socket, renew_at)
        except ConnectionRejected as exc:
            # Typically a notificationUrl the service no longer honours: subscribe afresh.
            return _Ended("failed", f"socket refused: HTTP {exc.status_code}")
        except ConnectionTimeout:
            # Also what a TLS failure looks like: trio-websocket's reader task swallows it and
            # the opening handshake never completes.
            return _Ended("failed", f"could not connect in {self.config.connect_timeout:g} s")
        except DisconnectionTimeout:
            if ended is None:
                return _Ended("failed", "the socket did not close in time")
        except HandshakeError as exc:
            return _Ended("failed", f"could not connect: {_cause(exc)}")
        assert ended is not None  # _converse returns or the handlers above did
        return ended

    async def _converse(self, socket: WebSocketConnection, renew_at: float) -> _Ended:
        """Handshake, then listen; every way this connection can end becomes an ``_Ended``."""
        connected_at: float | None = None

        def uptime() -> float:
            return 0.0 if connected_at is None else trio.current_time() - connected_at

        try:
            with trio.move_on_after(self.config.connect_timeout) as handshake:
                opened = await _handshake(socket)
            if handshake.cancelled_caught:
                return _Ended("failed", "no Engine.IO handshake in time")
            connected_at = trio.current_time()
            self._set(NotifierHealth(NotifierState.CONNECTED))
            log.info("notifications: connected (ping every %g s)", opened.ping_interval)
            self._wake()  # catch up with what changed while nobody listened
            return await self._listen(socket, opened, renew_at, uptime)
        except ConnectionClosed as exc:
            return _Ended("failed", f"socket closed: {_close_reason(exc)}", uptime())
        except engineio.ProtocolError as exc:
            return _Ended("failed", f"protocol error: {exc}", uptime())

    async def _listen(
        self,
        socket: WebSocketConnection,
        opened: engineio.Opened,
        renew_at: float,
        uptime: Callable[[], float],
    ) -> _Ended:
        silence = opened.ping_interval + opened.ping_timeout
        ping_by = trio.current_time() + silence
        while True:
            message: str | bytes | None = None
            with trio.move_on_at(min(ping_by, renew_at)):
                message = await socket.get_message()
            if message is None:
                if trio.current_time() >= renew_at:
                    return _Ended("renew", "renewing the subscription", uptime())
                return _Ended("failed", f"no ping from the server in {silence:g} s", uptime())
            packet = engineio.decode(message)
            if isinstance(packet, engineio.Ping):
                ping_by = trio.current_time() + silence
                await socket.send_message(engineio.pong(packet))
            elif isinstance(packet, engineio.Event):
                if packet.name == "notification":
                    log.debug("notifications: a change on %s", packet.namespace)
                    self._wake()
            elif isinstance(packet, engineio.Closed):
                left = "the server closed" if packet.namespace is None else "the server left"
                where = f" {packet.namespace}" if packet.namespace else ""
                return _Ended("failed", f"{left}{where}", uptime())
            elif isinstance(packet, engineio.JoinRefused):
                return _Ended("failed", f"{packet.namespace} refused: {packet.detail}", uptime())

    # -- health ----------------------------------------------------------------------------------

    def _set(self, health: NotifierHealth) -> None:
        if health == self._health:
            return
        previous, self._health = self._health, health
        if health.state is not previous.state:
            log.info("notifications: %s %s", health.state.value, health.reason)
        if self._task_status is not None and health.state is not NotifierState.CONNECTING:
            self._task_status.started(health)
            self._task_status = None
        if self._on_health is not None:
            self._on_health(health)
        self._changed.set()
        self._changed = trio.Event()


async def _handshake(socket: WebSocketConnection) -> engineio.Opened:
    """Open, join ``/`` and ``/notifications``; return once ``/notifications`` is joined.

    The root namespace's acknowledgement is accepted but not required: the events come on
    /notifications, and waiting for an answer that matters to nothing would only add a way
    to fail.
    """
    opened = engineio.decode(await socket.get_message())
    if not isinstance(opened, engineio.Opened):
        raise engineio.ProtocolError(f"expected the open packet, got {type(opened).__name__}")
    await socket.send_message(engineio.JOIN_ROOT)
    await socket.send_message(engineio.JOIN_NOTIFICATIONS)
    while True:
        packet = engineio.decode(await socket.get_message())
        if isinstance(packet, engineio.Ping):
            await socket.send_message(engineio.pong(packet))
        elif isinstance(packet, engineio.Joined) and packet.namespace == engineio.NAMESPACE:
            return opened
        elif isinstance(packet, engineio.JoinRefused):
            raise engineio.ProtocolError(f"{packet.namespace} refused: {packet.detail}")
        elif isinstance(packet, engineio.Closed):
            raise engineio.ProtocolError("closed during the handshake")


def _describe(error: GraphError) -> str:
    """``403 accessDenied`` or ``malformed answer``: short, and free of any credential."""
    if error.status is None:
        return type(error).__name__
    return " ".join([str(error.status), *error.codes[-1:]])


def _cause(error: HandshakeError) -> str:
    """What the connection failed on (trio-websocket wraps the OSError)."""
    cause = error.__cause__
    if cause is None:
        return type(error).__name__
    return redact_url(f"{type(cause).__name__}: {cause}")


def _close_reason(error: ConnectionClosed) -> str:
    reason = error.reason
    if reason is None:
        return "no close frame"
    return f"code {reason.code}" + (f" {reason.reason}" if reason.reason else "")
