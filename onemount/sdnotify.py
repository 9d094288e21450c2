"""systemd's readiness protocol (``sd_notify``), without libsystemd: one datagram per message.

Under ``Type=notify`` systemd waits for ``READY=1`` before it calls the unit started, which is
the moment a mount answers, not the moment the process exists (the reference's D-Bus
readiness, §9 L-cat1, restarted mounts mid-read when it never came). ``STATUS=`` lines show in
``systemctl status``; ``STOPPING=1`` says an unmount has begun. Outside systemd
(``$NOTIFY_SOCKET`` unset) every call does nothing.
"""

from __future__ import annotations

import os
import socket


def notify(*fields: str) -> bool:
    """Send ``READY=1``, ``STATUS=...``, ``STOPPING=1``...; True if a socket heard it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: a leading NUL in place of the @
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall("\n".join(fields).encode())
    return True
