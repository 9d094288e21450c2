"""Change notifications over socket.io (checklist 44), spoken to with a real WebSocket client.

The client side is written here from graph-api.md §11 (the wire protocol abraunegg's client
speaks), not from the fake: connect to ``/socket.io/?EIO=4&transport=websocket&<query of the
notificationUrl>``, join ``/notifications``, answer pings, and read ``notification`` events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.graph.fake import RunningFake, running_fake


@pytest.fixture
def fake() -> Iterator[RunningFake]:
    with running_fake() as running:
        hub = running.graph.notifications
        hub.ping_interval, hub.ping_timeout, hub.debounce = 0.5, 1.0, 0.1
        yield running


def subscribe(fake: RunningFake, drive_path: str = "/me/drive") -> dict[str, Any]:
    response = httpx.get(
        f"{fake.base_url}{drive_path}/root/subscriptions/socketIo",
        headers={"Authorization": f"Bearer {fake.token}"},
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def socket_url(notification_url: str) -> str:
    """What a client derives from notificationUrl: same host, /socket.io/, its query."""
    scheme, _, rest = notification_url.partition("://")
    host, _, path_query = rest.partition("/")
    query = path_query.partition("?")[2]
    return f"{'wss' if scheme == 'https' else 'ws'}://{host}/socket.io/?EIO=4&transport=websocket&{query}"


@contextmanager
def join(fake: RunningFake) -> Iterator[ClientConnection]:
    with connect(socket_url(subscribe(fake)["notificationUrl"]), open_timeout=5) as socket:
        yield _joined(socket)


def _joined(socket: ClientConnection) -> ClientConnection:
    opening = socket.recv(timeout=5)
    assert isinstance(opening, str) and opening.startswith("0")
    assert {"sid", "pingInterval", "pingTimeout"} <= json.loads(opening[1:]).keys()
    socket.send("40")
    assert str(socket.recv(timeout=5)).startswith("40{")
    socket.send("40/notifications")
    assert str(socket.recv(timeout=5)).startswith("40/notifications,{")
    return socket


def events(socket: ClientConnection, seconds: float) -> list[Any]:
    """Every ``notification`` event within ``seconds``, answering pings meanwhile."""
    seen: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            packet = str(socket.recv(timeout=left))
        except TimeoutError:
            break
        if packet == "2":
            socket.send("3")
        elif packet.startswith("42/notifications,"):
            name, body = json.loads(packet.removeprefix("42/notifications,"))
            assert name == "notification"
            seen.append(body)
    return seen


def test_the_subscription_gives_a_loopback_notification_url(fake: RunningFake) -> None:
    subscription = subscribe(fake)
    assert subscription["id"] and subscription["expirationDateTime"].endswith("Z")
    assert subscription["notificationUrl"].startswith(f"{fake.origin}/notifications?token=")
    drive_id = fake.drive.drive_id.lower()  # the /drives/{id} form answers too
    assert subscribe(fake, f"/drives/{drive_id}")["notificationUrl"]


def test_a_change_taps_the_client_once_per_burst(fake: RunningFake) -> None:
    with join(fake) as socket:
        assert events(socket, 0.5) == []  # nothing changed, nothing said
        started = time.monotonic()
        for n in range(20):
            fake.drive.create_folder(fake.drive.root_id, f"burst {n}")
        took = time.monotonic() - started
        burst = events(socket, 1.0)
        # Coalesced: at most one tap per debounce period the burst lasted (and the one after).
        assert 1 <= len(burst) <= took / 0.1 + 2 < 20, (len(burst), took)
        (entry,) = burst[0]["value"]
        assert entry["changeType"] == "updated" and entry["resource"] == "/me/drive/root"
        fake.drive.delete(fake.drive.child(fake.drive.root_id, "burst 3").id)  # type: ignore[union-attr]
        assert len(events(socket, 1.0)) >= 1


def test_pings_keep_the_socket_and_silence_closes_it(fake: RunningFake) -> None:
    with join(fake) as socket:
        events(socket, 1.6)  # answers three pings or so: still open
        fake.drive.create_folder(fake.drive.root_id, "still here")
        assert events(socket, 1.0)
        with pytest.raises(ConnectionClosed):  # now stop answering pings
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                socket.recv(timeout=5)


def test_an_unknown_subscription_is_refused(fake: RunningFake) -> None:
    url = socket_url(f"{fake.origin}/notifications?token=forged&applicationId=x")
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=5)
