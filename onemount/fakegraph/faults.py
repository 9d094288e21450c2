"""Fault injection by rule, and the request log tests measure against (checklist 40).

A rule matches requests by method and path glob and, for its next ``count`` matches (after
letting ``skip`` through), does one of: answer a status (429/503 with ``Retry-After`` and
Graph's throttling body, any 5xx, 509), wait ``latency`` seconds first, or drop the connection
after ``drop_after`` bytes of the request body (``drop="request"``: nothing is stored) or of the
response body (``drop="response"``: the request took effect but its answer is lost).

The log records every request with the server's monotonic time, so a test can measure how long
a client really waited after a 429, from the side that cannot be fooled by the client's clock.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import trio

from onemount.fakegraph.errors import error_body

ASGIApp = Any  # (scope, receive, send) -> Awaitable[None]; starlette's types need no import here


class DroppedConnection(Exception):
    """Raised inside the server to make it close the connection without a complete answer."""


class _QuietDrops(logging.Filter):
    """Keep the server's error log for real errors: an injected drop is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, DroppedConnection):
                return False
            exc = (
                exc.__cause__
                or exc.__context__
                or (exc.exceptions[0] if isinstance(exc, BaseExceptionGroup) else None)
            )
        return True


logging.getLogger("hypercorn.error").addFilter(_QuietDrops())


@dataclass
class FaultRule:
    path: str = "*"
    method: str = "*"
    count: int = 1  # matches it acts on; -1: every match, until removed
    skip: int = 0  # matches let through before it starts acting
    status: int | None = None
    retry_after: int | None = None
    latency: float = 0.0
    drop: Literal["request", "response"] | None = None
    drop_after: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    hits: int = 0

    def __post_init__(self) -> None:
        if self.drop not in (None, "request", "response"):
            raise ValueError(f"drop must be 'request' or 'response', not {self.drop!r}")
        if self.status is None and self.drop is None and not self.latency:
            raise ValueError("a rule needs a status, a drop or a latency")

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class LoggedRequest:
    at: float  # time.monotonic() of the server when the request arrived
    method: str
    path: str
    status: int | None  # None when the connection was dropped before an answer
    fault: str | None  # the id of the rule that acted on it
    range: str | None = None  # the Range or Content-Range the request carried


class Faults:
    """The rule list and the request log; shared by the server thread and the tests."""

    def __init__(self, log_size: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._log: deque[LoggedRequest] = deque(maxlen=log_size)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule acting on this request, its budget spent; None for most requests."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.hits += 1
                if rule.count > 0:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                return rule
        return None

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(rule) for rule in self.rules()]


class FaultMiddleware:
    """Applies :class:`Faults` around an ASGI app and logs every HTTP request."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_fake/"):
            await self.app(scope, receive, send)
            return
        arrived = time.monotonic()
        method, path = scope["method"], scope["path"]
        ranges = [v for k, v in scope["headers"] if k in (b"range", b"content-range")]
        rule = self.faults.take(method, path)
        span = ranges[0].decode("latin-1") if ranges else None
        recorded = False

        def record(status: int | None) -> None:
            # Logged before the answer leaves: a client that has its answer must find the
            # request in the log, so the entry cannot wait for the send to finish.
            nonlocal recorded
            if not recorded:
                recorded = True
                fault = rule.id if rule else None
                self.faults.record(LoggedRequest(arrived, method, path, status, fault, span))

        async def logged_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record(None if _was_dropped(rule) else message["status"])
            await send(message)

        try:
            if rule is None:
                await self.app(scope, receive, logged_send)
            else:
                await self._apply(rule, scope, receive, logged_send)
        finally:
            record(None)

    async def _apply(self, rule: FaultRule, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if rule.latency:
            await trio.sleep(rule.latency)
        if rule.drop == "request":
            await _consume(receive, rule.drop_after)
            await _start_then_drop(send)
        if rule.drop == "response":
            await self.app(scope, receive, _truncating(send, rule.drop_after))
            return
        if rule.status is not None:
            client_id = dict(scope["headers"]).get(b"client-request-id", b"").decode("latin-1")
            await _error(send, rule.status, rule.retry_after, client_id or None)
            return
        await self.app(scope, receive, send)


def _was_dropped(rule: FaultRule | None) -> bool:
    return rule is not None and rule.drop is not None


async def _consume(receive: Any, limit: int) -> None:
    """Read up to ``limit`` bytes of the request body (what "arrived" before the drop)."""
    received = 0
    while received < limit:
        message = await receive()
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            return


async def _start_then_drop(send: Any) -> None:
    # Without a started response the server would answer 500 itself; with one, it can only
    # close the connection, which is what a network drop looks like to the client.
    headers = [(b"content-length", b"1"), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    raise DroppedConnection("injected drop")


def _truncating(send: Any, limit: int) -> Any:
    sent = 0

    async def truncated(message: dict[str, Any]) -> None:
        nonlocal sent
        if message["type"] != "http.response.body":
            await send(message)
            return
        body = message.get("body", b"")
        room = limit - sent
        if len(body) < room or (len(body) == room and message.get("more_body")):
            sent += len(body)
            await send(message)
            return
        # Send what fits, then drop; an answer with no body at all is cut before its headers'
        # promise (Content-Length) is kept, so the client always sees a broken message.
        await send({"type": "http.response.body", "body": body[: max(0, room)], "more_body": True})
        raise DroppedConnection("injected drop")

    return truncated


async def _error(
    send: Any, status: int, retry_after: int | None, client_request_id: str | None
) -> None:
    if status in (429, 503):
        body, request_id = error_body(
            "activityLimitReached",
            "The request has been throttled",
            {"code": "throttledRequest", "innerError": {"code": "quota"}},
            client_request_id=client_request_id,
        )
    else:
        code = "serviceNotAvailable" if status >= 500 else "generalException"
        body, request_id = error_body(code, "Injected fault", client_request_id=client_request_id)
    raw = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        (b"request-id", request_id.encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})
