"""The Socket.IO subscription: where OneDrive pushes "something changed" (graph-api.md §11).

``GET /me/drive/root/subscriptions/socketIo`` answers ``{id, notificationUrl,
expirationDateTime}``. The ``notificationUrl`` carries a credential in its query (``token=…``):
anyone holding it can listen to the drive's change feed until it expires. So it is kept out of
``repr`` and every log line goes through :func:`redact_url`, which keeps the scheme, host and
path (enough to diagnose) and masks every query value.

Parsing is strict, as in :mod:`onemount.graph.items`: a missing id, a URL that is not absolute
http(s), or a timestamp without a zone is a :class:`MalformedResponse`, never a half-filled
value that fails later. ``expirationDateTime`` is optional because Microsoft's documentation
omits it (the real service and the fake send it); without it the subscription is kept until its
socket drops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from onemount.graph.errors import ErrorInfo, MalformedResponse

# Query parameters that say how to speak, not who may listen: shown as they are.
_HARMLESS = frozenset({"eio", "transport"})
_QUERY_VALUE = re.compile(r"([?&][^=&#\s]+=)([^&#\s]*)")


@dataclass(frozen=True)
class SocketIoSubscription:
    """A notification endpoint: ``notification_url`` is a credential (see the module doc)."""

    id: str
    notification_url: str = field(repr=False)
    expires: datetime | None

    @property
    def redacted_url(self) -> str:
        return redact_url(self.notification_url)


def parse_socketio_subscription(data: Any) -> SocketIoSubscription:
    """The subscription in ``data`` (the decoded JSON body); :class:`MalformedResponse` if bad."""
    try:
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        return SocketIoSubscription(
            id=_required(data, "id"),
            notification_url=_http_url(_required(data, "notificationUrl")),
            expires=_optional_time(data, "expirationDateTime"),
        )
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(ErrorInfo(None), f"socketIo subscription: {exc}") from exc


def redact_url(text: str) -> str:
    """``text`` with the value of every query parameter masked, except ``EIO``/``transport``.

    Works on a bare URL and on a log line containing one (it only rewrites ``?k=v``/``&k=v``).
    """

    def mask(match: re.Match[str]) -> str:
        key = match.group(1)[1:-1]
        return match.group(0) if key.lower() in _HARMLESS else f"{match.group(1)}***"

    return _QUERY_VALUE.sub(mask, text)


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} missing or not a non-empty string")
    return value


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (reading it validates it)
    except ValueError:
        raise ValueError("notificationUrl has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the URL itself: it is a credential.
        raise ValueError("notificationUrl is not an absolute http(s) URL")
    return url


def _optional_time(data: dict[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key!r} is not a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{key!r} has no time zone: {value!r}")
    return parsed
