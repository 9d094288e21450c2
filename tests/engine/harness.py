"""What the engine tests stand on: the real fake Graph on 127.0.0.1 and a notifier watched.

:class:`Served` serves one :class:`FakeGraph` from a thread and can stop it and start it again
on the same port (the same drive, the same subscriptions, the same token), which is how a
server that goes away and comes back looks to a client. :func:`watching` runs a
:class:`ChangeNotifier` against it in a nursery and records every wake and every health, with
trio times, for the test to read; leaving the block cancels it.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

from onemount.engine.notifications import (
    ChangeNotifier,
    NotifierConfig,
    NotifierHealth,
    NotifierState,
)
from onemount.fakegraph import FakeGraph, Tls, build, serve_in_thread
from onemount.graph import GraphClient, GraphConfig, RetryPolicy, StaticToken
from onemount.graph.subscriptions import SocketIoSubscription

# One quick retry: the tests are about the notifier's own backoff, not the client's.
QUICK = RetryPolicy(max_attempts=2, max_total=5, backoff_base=0.05, backoff_cap=0.1)
SOCKET_IO = "/v1.0/me/drive/root/subscriptions/socketIo"


class Served:
    """A fake Graph served from a thread; :meth:`stop` and :meth:`start` keep its port.

    With ``tls`` it serves https (and wss); :attr:`trust` is the context that verifies it.
    """

    def __init__(self, data_dir: Path, tls: Tls | None = None) -> None:
        self.graph: FakeGraph = build(data_dir, access_ttl=24 * 3600)
        self.token = self.graph.authority.issue_static_token()
        self.tls = tls
        self.trust = ssl.create_default_context(cafile=str(tls.cert)) if tls else None
        self._serving: contextlib.AbstractContextManager[str] | None = None
        self.origin = ""
        self.start()

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1.0"

    def start(self) -> None:
        port = int(self.origin.rsplit(":", 1)[1]) if self.origin else 0
        self._serving = serve_in_thread(self.graph.asgi(), port=port, tls=self.tls)
        self.origin = self._serving.__enter__()

    def stop(self) -> None:
        """Shut the server down: every open socket is dropped, new connections are refused."""
        assert self._serving is not None
        serving, self._serving = self._serving, None
        serving.__exit__(None, None, None)

    def close(self) -> None:
        if self._serving is not None:
            self.stop()
        self.graph.drive.close()

    def client(self, **config: Any) -> GraphClient:
        transport = httpx.AsyncHTTPTransport(verify=self.trust) if self.trust else None
        return GraphClient(
            StaticToken(self.token),
            GraphConfig(base_url=self.base_url, policy=QUICK, **config),
            transport=transport,
        )


@contextlib.contextmanager
def served(data_dir: Path, tls: Tls | None = None, **hub: float) -> Iterator[Served]:
    """A served fake whose notification hub has the given knobs (ping_interval, debounce...)."""
    server = Served(data_dir, tls)
    for name, value in hub.items():
        setattr(server.graph.notifications, name, value)
    try:
        yield server
    finally:
        server.close()


class Recording:
    """The Graph client as the notifier's subscriber, keeping every subscription it handed out
    (the tests look for their tokens in the logs)."""

    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph
        self.subscriptions: list[SocketIoSubscription] = []

    async def subscribe_socketio(self) -> SocketIoSubscription:
        subscription = await self.graph.subscribe_socketio()
        self.subscriptions.append(subscription)
        return subscription


@dataclass
class Watched:
    notifier: ChangeNotifier
    subscriber: Recording
    wakes: trio.MemoryReceiveChannel[float]
    healths: list[tuple[float, NotifierHealth]] = field(default_factory=list)

    async def next_wake(self, within: float = 10.0) -> float:
        """The trio time of the next wake (failing the test if none comes ``within`` s)."""
        with trio.fail_after(within):
            return await self.wakes.receive()

    def drain(self) -> int:
        """Consume the wakes already delivered; how many there were."""
        count = 0
        while True:
            try:
                self.wakes.receive_nowait()
            except trio.WouldBlock:
                return count
            count += 1

    async def reach(self, *states: NotifierState, within: float = 10.0) -> NotifierHealth:
        with trio.fail_after(within):
            return await self.notifier.wait_for(*states)

    def states(self) -> list[NotifierState]:
        return [health.state for _, health in self.healths]


@asynccontextmanager
async def watching(
    server: Served,
    config: NotifierConfig | None = None,
    *,
    on_health: Callable[[NotifierHealth], None] | None = None,
    draw: float = 0.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Watched]:
    """A notifier running against ``server``; ``draw=0`` makes every backoff its ceiling."""
    send, receive = trio.open_memory_channel[float](float("inf"))
    async with server.client() as graph:
        subscriber = Recording(graph)
        healths: list[tuple[float, NotifierHealth]] = []

        def record(health: NotifierHealth) -> None:
            healths.append((trio.current_time(), health))
            if on_health is not None:
                on_health(health)

        notifier = ChangeNotifier(
            subscriber,
            wake=lambda: send.send_nowait(trio.current_time()),
            on_health=record,
            config=config,
            ssl_context=ssl_context,
            draw=lambda: draw,
        )
        watched = Watched(notifier, subscriber, receive, healths)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(notifier.run)
            yield watched
            nursery.cancel_scope.cancel()


async def admin_create(admin: httpx.AsyncClient, server: Served, name: str) -> None:
    """A folder made "on another device": through the fake's admin API, over HTTP."""
    response = await admin.post(
        f"{server.origin}/_fake/items", json={"path": "/", "name": name, "folder": True}
    )
    assert response.status_code == 201, response.text


def tasks_alive() -> set[trio.lowlevel.Task]:
    """Every task of this trio run, found by walking the task tree from the root."""
    found: set[trio.lowlevel.Task] = set()
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None or task in found:
            continue
        found.add(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return found
