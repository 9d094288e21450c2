"""A CONNECT proxy on 127.0.0.1 that tunnels chosen host names to local ports.

A third-party client reaches the fake as ``graph.microsoft.com`` through ``HTTPS_PROXY`` and
nothing else changes on the machine: no hosts file, no DNS, no trust store (the client is given
the test CA on its command line). The client asks ``CONNECT graph.microsoft.com:443``; the proxy
opens a plain TCP connection to the fake's TLS port and copies bytes both ways, so the TLS
session, the certificate check and HTTP/2 are between the client and the fake. Any other host
is refused with 403 and remembered, so a test can assert the client went nowhere else.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

_HEAD_LIMIT = 64 * 1024


@dataclass
class ConnectProxy:
    """Tunnels ``routes`` (``"graph.microsoft.com:443"`` -> ``("127.0.0.1", port)``)."""

    routes: dict[str, tuple[str, int]]
    tunnels: list[str] = field(default_factory=list)  # every CONNECT target let through
    refused: list[str] = field(default_factory=list)  # every request refused, as it came
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: set[socket.socket] = field(default_factory=set)

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        """Listen for the duration of the block; yields the proxy URL for HTTPS_PROXY."""
        listener = socket.create_server(("127.0.0.1", 0))
        accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        accepting.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(): the thread ends
            listener.close()
            with self._lock:
                for conn in self._open:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
            accepting.join(timeout=10)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with client, self._tracked(client):
            head = b""
            while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            head, _, early = head.partition(b"\r\n\r\n")
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            target = rest.split(" ", 1)[0]
            route = self.routes.get(target) if method == "CONNECT" else None
            if route is None:
                with self._lock:
                    self.refused.append(f"{method} {target}")
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with self._lock:
                self.tunnels.append(target)
            with socket.create_connection(route) as upstream, self._tracked(upstream):
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                upstream.sendall(early)
                back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                back.start()
                _pump(client, upstream)
                back.join()

    @contextlib.contextmanager
    def _tracked(self, conn: socket.socket) -> Iterator[None]:
        with self._lock:
            self._open.add(conn)
        try:
            yield
        finally:
            with self._lock:
                self._open.discard(conn)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until ``source`` ends, then pass the end on (half-close, as TCP does)."""
    try:
        while chunk := source.recv(1 << 16):
            sink.sendall(chunk)
    except OSError:
        pass  # the other side went away: the tunnel is over
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
