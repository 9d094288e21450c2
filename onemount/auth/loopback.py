"""The one-request HTTP listener that receives the browser's redirect after sign-in.

The browser flow (auth code + PKCE) ends with the identity service making the browser POST
``code`` and ``state`` to ``http://localhost:<port>/`` (``response_mode=form_post``, RFC 9700
§4.3.1: the code never sits in a URL, so not in browser history or a referrer either). A GET
carrying a code is refused, as msal's own listener does. Running that listener ourselves, under
trio, rather than through msal's blocking ``acquire_token_interactive``, lets a cancel scope
bound the wait and lets tests play the browser with a plain HTTP client.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

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
    """Serve requests until a POST carries ``code`` or ``error``; return its form fields.

    Other requests (a browser's ``GET /favicon.ico``) get a short page and are ignored.
    """
    while True:
        stream = await listener.accept()
        async with stream:
            params = await _read_form_post(stream)
            done = "code" in params or "error" in params
            body = (
                b"Sign-in finished; you can close this window."
                if done
                else b"Waiting for the sign-in response."
            )
            await stream.send_all(_PAGE % (len(body), body))
        if done:
            return params


async def _read_form_post(stream: trio.SocketStream) -> dict[str, str]:
    """The urlencoded body of a POST request, or {} for anything else."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _MAX_REQUEST:
        chunk = await stream.receive_some(4096)
        if not chunk:
            return {}
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("POST "):
        return {}
    headers = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
    try:
        length = min(int(headers.get("content-length", "0")), _MAX_REQUEST)
    except ValueError:
        return {}
    while len(body) < length:
        chunk = await stream.receive_some(length - len(body))
        if not chunk:
            break
        body += chunk
    return dict(parse_qsl(body[:length].decode("utf-8")))
