"""The running mount's control channel: how ``onemount unmount`` and ``status`` reach a daemon.

A Unix stream socket in the abstract namespace, named after the mountpoint
(``\\0onemount/<sha256 of the path>``). Abstract, so a killed daemon leaves no socket file
to clean up and the cache folder's path length does not matter; named by mountpoint, so
``onemount unmount /path`` needs nothing else, whatever ``--cache-dir`` the mount was given.
Binding it is also the mount's lock: a second daemon for the same mountpoint fails to bind
(:class:`AlreadyServing`). Only the mount's own user (or root) is answered, checked on every
connection with ``SO_PEERCRED``.

The protocol is one JSON object per line: the client sends ``{"command": "status"}`` or
``{"command": "unmount"}`` and reads one answer object; a refusal is ``{"error": "..."}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger("onemount.fs")

Answer = dict[str, Any]
Handler = Callable[[str], Awaitable[Answer]]

_MAX_REQUEST = 4096
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


class AlreadyServing(Exception):
    """Another onemount process serves this mountpoint."""


class NotServing(Exception):
    """No onemount process answers for this mountpoint."""


def address(mountpoint: Path) -> bytes:
    digest = hashlib.sha256(os.fsencode(mountpoint)).hexdigest()[:40]
    return b"\0onemount/" + digest.encode()


async def bind(mountpoint: Path) -> trio.socket.SocketType:
    """The listening socket for ``mountpoint``; :class:`AlreadyServing` if it is taken."""
    listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        await listener.bind(address(mountpoint))
    except OSError as exc:
        listener.close()
        raise AlreadyServing(f"{mountpoint} is already served by another onemount") from exc
    listener.listen(8)
    return listener


class Server:
    """Answers requests on a bound listener; :meth:`close` stops accepting new ones, and
    :meth:`run` returns once the requests in progress have had their answers."""

    def __init__(self, listener: trio.socket.SocketType, handler: Handler) -> None:
        self.listener = listener
        self.handler = handler
        self._accepting = trio.CancelScope()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            with self._accepting:
                while True:
                    conn, _ = await self.listener.accept()
                    nursery.start_soon(_answer, conn, self.handler)

    def close(self) -> None:
        self._accepting.cancel()


async def _answer(conn: trio.socket.SocketType, handler: Handler) -> None:
    pid, uid, _gid = _PEERCRED.unpack(
        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    )
    async with trio.SocketStream(conn) as stream:
        if uid not in (0, os.getuid()):
            log.warning("control: refused a request from uid %d (pid %d)", uid, pid)
            return
        request = b""
        while not request.endswith(b"\n") and len(request) < _MAX_REQUEST:
            chunk = await stream.receive_some(_MAX_REQUEST)
            if not chunk:
                return
            request += chunk
        try:
            command = str(json.loads(request)["command"])
        except (ValueError, KeyError, TypeError):
            answer: Answer = {"error": "not a request"}
        else:
            answer = await handler(command)
        await stream.send_all(json.dumps(answer).encode() + b"\n")


def ask(mountpoint: Path, command: str, *, timeout: float) -> Answer:
    """Send ``command`` to the daemon of ``mountpoint`` and return its answer (blocking)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address(mountpoint))
        except (ConnectionRefusedError, FileNotFoundError):
            raise NotServing(f"no onemount process serves {mountpoint}") from None
        sock.sendall(json.dumps({"command": command}).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise NotServing(f"the onemount process of {mountpoint} closed the connection")
            reply += chunk
    answer: Answer = json.loads(reply)
    return answer
