"""A faithful fake of Microsoft Graph's OneDrive API, served on loopback.

It is the ground onemount's tests stand on and the drive ``make demo`` shows, so it is built
from the documented behaviour (``shared/reference/graph-api.md``, its checklist quoted by number
in the code), not from what onemount's client happens to send.

* :mod:`.drive`: the drive (SQLite plus blobs): items, tags, delta, sessions, quota;
* :mod:`.names`: OneDrive's naming rules; :mod:`.errors`: the error the drive raises;
* :mod:`.render`: driveItem JSON, personal and business;
* :mod:`.app`: the ASGI application (Graph routes, download/upload URLs, admin, OAuth);
* :mod:`.notify`: socket.io change notifications;
* :mod:`.admin`: the ``/_fake`` routes tests and tools act through;
* :mod:`.faults`: fault injection by rule and the request log;
* :mod:`.oauth`: the identity platform's endpoints, for msal and other clients;
* :mod:`.origin`: the scheme and host written into links (behind a proxy too);
* :mod:`.server`: serving it with hypercorn, in a thread or in the foreground;
* :mod:`.hardening`: hypercorn's HTTP/2 made safe for early answers, and wide windows;
* :mod:`.sample`: the sample drive of the demo.

docs/fakegraph.md is the guide.
"""

from onemount.fakegraph.app import FakeGraph
from onemount.fakegraph.drive import DriveOptions, FakeDrive, FileTimesIn, Item
from onemount.fakegraph.errors import FakeError
from onemount.fakegraph.faults import FaultRule, Faults, LoggedRequest
from onemount.fakegraph.server import Tls, build, serve_forever, serve_in_thread

__all__ = [
    "DriveOptions",
    "FakeDrive",
    "FakeError",
    "FakeGraph",
    "FaultRule",
    "Faults",
    "FileTimesIn",
    "Item",
    "LoggedRequest",
    "Tls",
    "build",
    "serve_forever",
    "serve_in_thread",
]
