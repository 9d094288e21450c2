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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Joined:
    socket: ClientConnection
    sid: str  # the Engine.IO session id from the opening packet


@contextmanager
def join(fake: RunningFake) -> Iterator[Joined]:
    with connect(socket_url(subscribe(fake)["notificationUrl"]), open_timeout=5) as socket:
        yield _joined(socket)


def _joined(socket: ClientConnection) -> Joined:
    opening = socket.recv(timeout=5)
    assert isinstance(opening, str) and opening.startswith("0")
    handshake = json.loads(opening[1:])
    assert {"sid", "pingInterval", "pingTimeout"} <= handshake.keys()
    socket.send("40")
    assert str(socket.recv(timeout=5)).startswith("40{")
    socket.send("40/notifications")
    assert str(socket.recv(timeout=5)).startswith("40/notifications,{")
    return Joined(socket, handshake["sid"])


def next_tap(socket: ClientConnection, timeout: float = 20.0) -> Any:
    """The next ``notification`` event, answering pings meanwhile; fails after ``timeout``
    (a bound for a loaded machine, not a wait: it returns as soon as the tap is there)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        packet = str(socket.recv(timeout=left))
        if packet == "2":
            socket.send("3")
        elif packet.startswith("42/notifications,"):
            name, body = json.loads(packet.removeprefix("42/notifications,"))
            assert name == "notification"
            return body
    raise AssertionError(f"no notification within {timeout} s")


def answer_pings(socket: ClientConnection, count: int) -> None:
    """Answer ``count`` pings as they come (a notification meanwhile is fine)."""
    while count:
        packet = str(socket.recv(timeout=20))
        if packet == "2":
            socket.send("3")
            count -= 1


def test_the_subscription_gives_a_loopback_notification_url(fake: RunningFake) -> None:
    subscription = subscribe(fake)
    assert subscription["id"] and subscription["expirationDateTime"].endswith("Z")
    assert subscription["notificationUrl"].startswith(f"{fake.origin}/notifications?token=")
    drive_id = fake.drive.drive_id.lower()  # the /drives/{id} form answers too
    assert subscribe(fake, f"/drives/{drive_id}")["notificationUrl"]


def test_a_burst_of_changes_taps_the_client_once(fake: RunningFake) -> None:
    """Twenty changes committed together (another device syncing a folder) make one tap, not
    twenty; the next change makes the next tap. Counted on the server's tap log, written before
    each tap is sent: once the client holds the second tap, every tap sent before it is in the
    log, so a tap per change would be seen without waiting for anything that might not come."""
    hub, drive = fake.graph.notifications, fake.drive
    with join(fake) as joined:
        with drive.batch():
            for n in range(20):
                drive.create_folder(drive.root_id, f"burst {n}")
        burst = drive.change_sequence()
        (entry,) = next_tap(joined.socket)["value"]
        assert entry["changeType"] == "updated" and entry["resource"] == "/me/drive/root"
        assert hub.taps(joined.sid) == [burst]
        drive.delete(drive.child(drive.root_id, "burst 3").id)  # type: ignore[union-attr]
        next_tap(joined.socket)
        assert hub.taps(joined.sid) == [burst, drive.change_sequence()]


def test_pings_keep_the_socket_and_silence_closes_it(fake: RunningFake) -> None:
    with join(fake) as joined:
        socket = joined.socket
        answer_pings(socket, 3)  # three ping intervals answered: still open
        fake.drive.create_folder(fake.drive.root_id, "still here")
        assert next_tap(socket)
        with pytest.raises(ConnectionClosed):  # now stop answering pings
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                socket.recv(timeout=5)


def test_an_unknown_subscription_is_refused(fake: RunningFake) -> None:
    url = socket_url(f"{fake.origin}/notifications?token=forged&applicationId=x")
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=5)
