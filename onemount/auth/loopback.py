"""The one-request HTTP listener that receives the browser's redirect after sign-in.

The browser flow (auth code + PKCE) ends with the identity service redirecting the browser to
``http://localhost:<port>/?code=...&state=...``. Running that listener ourselves, under trio,
rather than through msal's blocking ``acquire_token_interactive``, lets a cancel scope bound the
wait and lets tests play the browser with a plain HTTP client.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import trio

_MAX_REQUEST = 16 << 10
_PAGE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)


async def open_listener() -> trio.SocketListener:
    """A listener on an ephemeral 127.0.0.1 port (never on a public interface)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    return listeners[0]


def listener_port(listener: trio.SocketListener) -> int:
    port: int = listener.socket.getsockname()[1]
    return port


async def receive_redirect(listener: trio.SocketListener) -> dict[str, str]:
    """Serve requests until one carries ``code`` or ``error``; return its query parameters.

    Other requests (a browser's ``/favicon.ico``) get the same page and are otherwise ignored.
    """
    while True:
        stream = await listener.accept()
        async with stream:
            params = await _read_query(stream)
            done = "code" in params or "error" in params
            body = (
                b"Sign-in finished; you can close this window."
                if done
                else b"Waiting for the sign-in redirect."
            )
            await stream.send_all(_PAGE % (len(body), body))
        if done:
            return params


async def _read_query(stream: trio.SocketStream) -> dict[str, str]:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _MAX_REQUEST:
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    request_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[0] != "GET":
        return {}
    return dict(parse_qsl(urlsplit(parts[1]).query))
