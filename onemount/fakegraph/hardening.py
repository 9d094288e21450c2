"""hypercorn as the fake needs it: guards so that one request, however it ends, never stops the
fake or breaks a client's connection, and HTTP/2 windows wide enough for an upload fragment.

A client may be answered before it has sent its whole body: the real service answers an upload
without a token 401 at once, and a client keeps streaming the rest of its 5 MiB. Over HTTP/2
(TLS with ALPN ``h2``, what Go and curl pick), hypercorn 0.18 then looks up the finished stream
for each further DATA frame, raises ``KeyError`` (hypercorn issue 329; the fixes proposed in its
pull requests 312, 334 and 365 are not released), and the error leaves the connection's task and
the trio worker: ``fakegraph serve`` exits and refuses every later request. Plain HTTP/1.1 never
shows it, which is why a suite over ``http://`` did not.

* :class:`_FakeH2` drops DATA for a stream that is already answered and closed, and still
  credits it to HTTP/2 flow control, so the client can finish sending and the connection
  carries on (the fix of hypercorn's pull request 365);
* :class:`_GuardedTCPServer` keeps any other exception that escapes one connection inside that
  connection: it is logged and the connection closes, the server lives on.

:class:`_FakeH2` also opens the flow-control windows (4 MiB a stream, 16 MiB the connection)
instead of HTTP/2's default 64 KiB, which hypercorn keeps: a 10 MiB fragment then took three
hundred round trips, and rclone's 20 MiB upload through a local proxy 7.6 s instead of 0.8 s.
The fake is not what the tests measure; a service front end advertises large windows too.

Both classes replace the names hypercorn looks up when it opens a connection; :func:`install`
does it once, before the first server starts, and only for this process (the fake's server).

Over HTTP/1.1 the same early answer has another edge. hypercorn reuses a keep-alive connection
only if the request's body was all read by the time the answer ended; otherwise it closes the
connection, without ``Connection: close``, so the client's next request on it can fail with
"Server disconnected" (a race: a 404 for a missing parent is decided before the body is looked
at, and the model test lost one run in five to it). :class:`DrainedRequests`, an ASGI
middleware, reads the rest of such a body before it lets the answer's last bytes go.
"""

from __future__ import annotations

import logging
from typing import Any

import h2.events
import h2.settings
import hypercorn.protocol
import hypercorn.trio.run
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.trio.tcp_server import TCPServer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_log = logging.getLogger("hypercorn.error")
_STREAM_WINDOW = 4 << 20
_CONNECTION_WINDOW = 16 << 20
_DEFAULT_WINDOW = 65_535  # every HTTP/2 connection window starts here (RFC 9113 6.9.2)


class _FakeH2(H2Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Settings are sent as they stand when the connection starts, so the new value goes in
        # a new Settings (a pending change would only count once the client acknowledged it).
        codes = h2.settings.SettingCodes
        values = {codes(code): value for code, value in self.connection.local_settings.items()}
        values[codes.INITIAL_WINDOW_SIZE] = _STREAM_WINDOW
        self.connection.local_settings = h2.settings.Settings(client=False, initial_values=values)

    async def initiate(
        self, headers: list[tuple[bytes, bytes]] | None = None, settings: bytes | None = None
    ) -> None:
        await super().initiate(headers, settings)
        self.connection.increment_flow_control_window(_CONNECTION_WINDOW - _DEFAULT_WINDOW)
        await self._flush()

    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        # One event at a time: handling one may let the app finish and close its stream, so
        # whether a stream is still there is only known when its own event comes.
        for event in events:
            if isinstance(event, h2.events.DataReceived) and event.stream_id not in self.streams:
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
                await self._flush()
            else:
                await super()._handle_events([event])


class _GuardedTCPServer(TCPServer):
    async def run(self) -> None:
        try:
            await super().run()
        except* Exception as group:  # cancellation (a BaseException) still goes through
            _log.error("a connection failed; the server carries on", exc_info=group)


class DrainedRequests:
    """HTTP/1.x requests with a body: what the app left unread is read (and dropped) before
    the answer's last body message, so hypercorn keeps the connection for the next request.

    Only requests that have a body, and only HTTP/1: a body-less request has nothing to drain
    (and a streamed download listens for the client's disconnect on ``receive`` meanwhile);
    HTTP/2 streams are independent, and :class:`_FakeH2` drops a closed stream's DATA.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["http_version"].startswith("1"):
            await self.app(scope, receive, send)
            return
        if not _has_body(scope):
            await self.app(scope, receive, send)
            return
        read_all = False

        async def tracked() -> Message:
            nonlocal read_all
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                read_all = True
            return message

        async def draining(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                while not read_all:
                    await tracked()
            await send(message)

        await self.app(scope, tracked, draining)


def _has_body(scope: Scope) -> bool:
    return any(
        (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding"
        for name, value in scope["headers"]
    )


def install() -> None:
    """Put :class:`_FakeH2` and :class:`_GuardedTCPServer` in place for every hypercorn server
    this process starts."""
    # The names are imported there, not exported: hence the ignores.
    hypercorn.protocol.H2Protocol = _FakeH2  # type: ignore[attr-defined]
    hypercorn.trio.run.TCPServer = _GuardedTCPServer  # type: ignore[attr-defined]
