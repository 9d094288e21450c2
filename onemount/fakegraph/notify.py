"""Change notifications the way OneDrive pushes them to a desktop client: socket.io (44).

``GET /me/drive/root/subscriptions/socketIo`` answers ``{id, notificationUrl,
expirationDateTime}``; the client opens a WebSocket to the same host at
``/socket.io/?EIO=4&transport=websocket&<the notificationUrl's query>`` and speaks Engine.IO v4
(graph-api.md §11):

* the server opens with ``0{"sid", "pingInterval", "pingTimeout", ...}``;
* the client joins with ``40`` and ``40/notifications``; the server acknowledges each;
* the server pings ``2`` every ``ping_interval``; a client that does not answer ``3`` within
  ``ping_timeout`` is dropped;
* after any change to the drive the server emits ``42/notifications,["notification",{...}]``.
  A notification says only *that* something changed (Microsoft: "a shoulder tap"); the client
  then runs delta. Bursts are coalesced: the drive's change counter is looked at every
  ``debounce`` seconds, so twenty edits in a moment make one notification, and a burst that
  commits at once (``FakeDrive.batch()``) always makes exactly one.

Each session's taps are logged with the change number they announced (:meth:`taps`, by the
``sid`` of the opening packet), written before the tap is sent: a test that has received a tap
finds it there, and every tap sent before it, as with the request log of :mod:`.faults`.

Watching the counter rather than hooking each write keeps the drive free of any knowledge of
sockets, and works whatever thread the change came from (tests edit the drive directly).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from onemount.fakegraph.drive import FakeDrive, iso_time

NAMESPACE = "/notifications"


@dataclass
class Notifications:
    drive: FakeDrive
    ping_interval: float = 25.0
    ping_timeout: float = 60.0
    debounce: float = 0.2
    lifetime: float = 3 * 24 * 3600.0  # how long a notificationUrl stays valid

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: dict[str, tuple[str, float]] = {}  # token -> (id, expiry)
        self._taps: dict[str, list[int]] = {}  # session sid -> change numbers tapped

    def taps(self, sid: str) -> list[int]:
        """The change numbers session ``sid`` was tapped for, in the order it was."""
        with self._lock:
            return list(self._taps.get(sid, []))

    def _tapped(self, sid: str, change: int) -> None:
        with self._lock:
            self._taps.setdefault(sid, []).append(change)

    async def subscribe(self, request: Request, origin: str) -> Response:
        """The subscription endpoint: a fresh notificationUrl on this server."""
        token = secrets.token_urlsafe(24)
        subscription_id = f"opaqueId-{secrets.token_hex(8)}"
        expires = time.time() + self.lifetime
        with self._lock:
            self._subscriptions[token] = (subscription_id, expires)
        return JSONResponse(
            {
                "id": subscription_id,
                "notificationUrl": f"{origin}/notifications?token={token}&applicationId=fake",
                "expirationDateTime": iso_time(expires),
            },
            headers={"request-id": str(uuid.uuid4())},  # on every Graph answer (39)
        )

    async def socket(self, websocket: WebSocket) -> None:
        """One Engine.IO v4 connection (WebSocket transport only, as OneDrive's clients use)."""
        token = websocket.query_params.get("token", "")
        with self._lock:
            subscription = self._subscriptions.get(token)
        if subscription is None or subscription[1] < time.time():
            await websocket.close(code=1008)  # before accept: the handshake is refused
            return
        if websocket.query_params.get("EIO") != "4":
            await websocket.close(code=1002)
            return
        await websocket.accept()
        session = _Session(self, websocket, subscription[0])
        await session.run()


class _Session:
    def __init__(self, hub: Notifications, websocket: WebSocket, subscription_id: str) -> None:
        self.hub = hub
        self.websocket = websocket
        self.subscription_id = subscription_id
        self.sid = secrets.token_urlsafe(15)
        self.joined = False
        self.pong = trio.Event()

    async def run(self) -> None:
        opening = {
            "sid": self.sid,
            "upgrades": [],
            "pingInterval": int(self.hub.ping_interval * 1000),
            "pingTimeout": int(self.hub.ping_timeout * 1000),
            "maxPayload": 1_000_000,
        }
        await self.websocket.send_text("0" + json.dumps(opening))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive, nursery.cancel_scope)
            nursery.start_soon(self._ping, nursery.cancel_scope)
            nursery.start_soon(self._watch)
        await self.websocket.close()

    async def _receive(self, done: trio.CancelScope) -> None:
        try:
            while True:
                packet = await self.websocket.receive_text()
                if packet == "3":
                    self.pong.set()
                elif packet == "40":
                    await self.websocket.send_text("40" + json.dumps({"sid": self.sid}))
                elif packet.startswith("40" + NAMESPACE):
                    self.joined = True
                    reply = f"40{NAMESPACE}," + json.dumps({"sid": self.sid})
                    await self.websocket.send_text(reply)
                elif packet.startswith("41") or packet == "1":
                    break  # the client leaves
        except WebSocketDisconnect:
            pass
        done.cancel()

    async def _ping(self, done: trio.CancelScope) -> None:
        while True:
            await trio.sleep(self.hub.ping_interval)
            self.pong = trio.Event()
            await self.websocket.send_text("2")
            with trio.move_on_after(self.hub.ping_timeout):
                await self.pong.wait()
                continue
            done.cancel()  # no pong: the client is gone
            return

    async def _watch(self) -> None:
        seen = self.hub.drive.change_sequence()
        while True:
            await trio.sleep(self.hub.debounce)
            now = self.hub.drive.change_sequence()
            if now == seen or not self.joined:
                continue
            seen = now
            self.hub._tapped(self.sid, now)
            body = {
                "value": [
                    {
                        "subscriptionId": self.subscription_id,
                        "clientState": None,
                        "resource": "/me/drive/root",
                        "changeType": "updated",
                        "tenantId": None,
                    }
                ]
            }
            await self.websocket.send_text(f"42{NAMESPACE}," + json.dumps(["notification", body]))
