"""Engine.IO v4 and Socket.IO v5 packets, as far as OneDrive's notifications use them.

Pure text in, typed packets out, so the wire format is tested without a socket. A WebSocket
message is one Engine.IO packet: a digit for its type, then its data. Type ``4`` (message)
carries a Socket.IO packet, again a digit for its type, then an optional ``/namespace,``, an
optional numeric ack id, and JSON (graph-api.md §11 has the exchange OneDrive expects)::

    server  0{"sid":"…","pingInterval":25000,"pingTimeout":60000}   open
    client  40    40/notifications                                   join both namespaces
    server  40{"sid":…}    40/notifications,{"sid":…}                joined
    server  2     client  3                                          ping, pong
    server  42/notifications,["notification",{…}]                    "something changed"
    server  41 / 41/notifications,  or  1                            leave / close

Anything this client has no use for (acks, binary events, upgrades) decodes to
:class:`Unhandled`; a packet that breaks the format raises :class:`ProtocolError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

NAMESPACE = "/notifications"
ROOT = "/"

# What the client sends. Joining "/" first is what Socket.IO clients do and what OneDrive's
# peers send; the events arrive on /notifications.
PONG = "3"
JOIN_ROOT = "40"
JOIN_NOTIFICATIONS = "40" + NAMESPACE


class ProtocolError(ValueError):
    """The server sent something that is not Engine.IO v4 / Socket.IO v5."""


@dataclass(frozen=True)
class Opened:
    """``0{…}``: the session, with its heartbeat in seconds."""

    sid: str
    ping_interval: float
    ping_timeout: float


@dataclass(frozen=True)
class Ping:
    """``2``: the server's heartbeat; answer :func:`pong` at once."""

    payload: str = ""


@dataclass(frozen=True)
class Closed:
    """``1`` (the transport closes) or ``41`` (a namespace is left): reconnect."""

    namespace: str | None  # None for the Engine.IO close


@dataclass(frozen=True)
class Joined:
    """``40…``: a namespace accepted our join."""

    namespace: str


@dataclass(frozen=True)
class JoinRefused:
    """``44…``: a namespace refused our join (Socket.IO CONNECT_ERROR)."""

    namespace: str
    detail: str


@dataclass(frozen=True)
class Event:
    """``42…["name", …]``: an event; OneDrive's is ``notification``."""

    namespace: str
    name: str


@dataclass(frozen=True)
class Unhandled:
    """A valid packet this client ignores (pong, noop, ack, binary, upgrade)."""

    kind: str


Packet = Opened | Ping | Closed | Joined | JoinRefused | Event | Unhandled


def socket_url(notification_url: str) -> str:
    """The WebSocket URL for a ``notificationUrl``: same host, ``/socket.io/``, its query.

    ``https`` becomes ``wss`` (``http`` becomes ``ws``, for the loopback fake). The query, which
    carries the subscription's token, is kept whole after ``EIO=4&transport=websocket``.
    """
    parts = urlsplit(notification_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = "EIO=4&transport=websocket" + (f"&{parts.query}" if parts.query else "")
    return urlunsplit((scheme, parts.netloc, "/socket.io/", query, ""))


def pong(ping: Ping) -> str:
    """The answer to ``ping`` (Engine.IO echoes a ping's payload in its pong)."""
    return PONG + ping.payload


def decode(message: str | bytes) -> Packet:
    """One WebSocket message as a packet; :class:`ProtocolError` if it breaks the format."""
    if isinstance(message, bytes):
        raise ProtocolError("a binary message (Engine.IO v4 text packets only)")
    if not message:
        raise ProtocolError("an empty message")
    kind, data = message[0], message[1:]
    if kind == "0":
        return _opened(data)
    if kind == "1":
        return Closed(None)
    if kind == "2":
        return Ping(data)
    if kind == "4":
        return _socketio(data)
    if kind in "356":
        return Unhandled(f"engine.io {kind}")
    raise ProtocolError(f"unknown Engine.IO packet type {kind!r}")


def _opened(data: str) -> Opened:
    body = _json(data, "open")
    if not isinstance(body, dict):
        raise ProtocolError("the open packet is not a JSON object")
    sid = body.get("sid")
    if not isinstance(sid, str) or not sid:
        raise ProtocolError("the open packet has no sid")
    return Opened(sid, _milliseconds(body, "pingInterval"), _milliseconds(body, "pingTimeout"))


def _milliseconds(body: dict[str, Any], key: str) -> float:
    """A positive integer of milliseconds, in seconds (a JSON ``true`` is not one)."""
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProtocolError(f"the open packet's {key} is not a positive integer")
    return value / 1000.0


def _socketio(data: str) -> Packet:
    if not data:
        raise ProtocolError("an empty Socket.IO packet")
    kind, rest = data[0], data[1:]
    if kind in "56":  # binary event / ack: "<attachments>-" before the namespace
        return Unhandled(f"socket.io {kind}")
    namespace, rest = _namespace(rest)
    if kind == "0":
        return Joined(namespace)
    if kind == "1":
        return Closed(namespace)
    if kind == "4":
        return JoinRefused(namespace, rest[:200])
    if kind == "3":
        return Unhandled("socket.io ack")
    if kind != "2":
        raise ProtocolError(f"unknown Socket.IO packet type {kind!r}")
    body = _json(rest.lstrip("0123456789"), "event")  # an ack id may precede the array
    if not isinstance(body, list) or not body or not isinstance(body[0], str):
        raise ProtocolError("an event that is not a JSON array starting with its name")
    return Event(namespace, body[0])


def _namespace(rest: str) -> tuple[str, str]:
    """Split ``/name,rest`` (or a bare ``/name``); no leading slash means the root namespace."""
    if not rest.startswith("/"):
        return ROOT, rest
    name, _, after = rest.partition(",")
    return name, after


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ProtocolError(f"the {what} packet's data is not JSON") from None
