"""The errors a Graph call can end in, each a type the caller can branch on.

Graph reports an error as an HTTP status plus a nested chain of codes
(``{"error": {"code": ..., "innerError": {"code": ...}}}``). The class is decided from the status
first and then refined by the most specific code in the chain; the human ``message`` is carried
for logs only, never branched on (Graph rewords messages freely). Losing the connection is decided
by the exception type httpx raised (:data:`NETWORK_ERRORS`), never by matching text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from onemount.auth import errors as auth_errors

# "No answer": everything httpx raises when bytes could not be exchanged (refused, reset, timed
# out, dropped mid-body, broken framing: ``TransportError`` is their common base in httpx 0.28),
# and a token provider that could not reach the identity service.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    auth_errors.AuthServiceUnreachable,
)

# Statuses worth another attempt after a backoff. 429 and 503 come with Retry-After when Graph
# throttles; 509 is SharePoint's bandwidth limit; 408 is a request timeout at a proxy.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 509})
THROTTLE_STATUSES = frozenset({429, 503})

_INVALID_NAME_CODES = frozenset({"invalidpath", "pathistoolong", "pathtoodeep", "invalidname"})
_NAME_CONFLICT_CODES = frozenset({"namealreadyexists", "upload_name_conflict"})


@dataclass(frozen=True)
class ErrorInfo:
    """What Graph said about a failed request, parsed leniently from any body."""

    status: int | None
    codes: tuple[str, ...] = ()  # outermost first; the last is the most specific
    message: str = ""
    request_id: str | None = None

    def has_code(self, codes: frozenset[str]) -> bool:
        """Whether any code in the chain is in ``codes`` (given lower-case)."""
        return any(code.lower() in codes for code in self.codes)


class GraphError(Exception):
    """A Graph call failed; ``info`` has the status, the code chain and the request id.

    Subclasses name the outcomes callers act on. A plain ``GraphError`` is an answer the client
    does not interpret (403 accessDenied, 400 invalidRequest, 423 locked, ...).
    """

    def __init__(self, info: ErrorInfo, detail: str = "") -> None:
        self.info = info
        parts = [type(self).__name__]
        if info.status is not None:
            parts.append(f"HTTP {info.status}")
        if info.codes:
            parts.append("/".join(info.codes))
        if detail or info.message:
            parts.append(detail or info.message)
        if info.request_id:
            parts.append(f"request-id {info.request_id}")
        super().__init__(": ".join(parts))

    @property
    def status(self) -> int | None:
        return self.info.status

    @property
    def codes(self) -> tuple[str, ...]:
        return self.info.codes

    @property
    def request_id(self) -> str | None:
        return self.info.request_id


class NotFound(GraphError):
    """404: the item (or the upload session) does not exist, or no longer does."""


class NameConflict(GraphError):
    """409 nameAlreadyExists: another item already has this name in the target folder."""


class PreconditionFailed(GraphError):
    """412: the item's eTag/cTag is no longer the one the caller sent in If-Match."""


class InvalidName(GraphError):
    """400 invalidPath / pathIsTooLong / pathTooDeep: OneDrive refuses this name or path."""


class QuotaExceeded(GraphError):
    """507 quotaLimitReached: the drive is full."""


class RangeNotSatisfiable(GraphError):
    """416: the byte range does not fit what the server holds (upload fragment or download)."""


class ServerError(GraphError):
    """A 5xx (or 408/509) that persisted through every retry the policy allowed."""


class Throttled(GraphError):
    """429/503: the service asked us to wait longer than this operation could.

    ``retry_after`` is the wait the service asked for, in seconds (``None`` if it gave none).
    """

    def __init__(self, info: ErrorInfo, retry_after: float | None, detail: str = "") -> None:
        self.retry_after = retry_after
        suffix = f"retry after {retry_after:g} s" if retry_after is not None else ""
        super().__init__(info, detail or suffix)


class ResyncRequired(GraphError):
    """410 on a delta link: the cursor expired; enumerate again from no token.

    ``location`` is the fresh link Graph offered, if any. Microsoft says it is optional to use
    it; the client restarts from no token, which is always correct.
    """

    def __init__(self, info: ErrorInfo, location: str | None) -> None:
        self.location = location
        super().__init__(info)


class AuthRequired(GraphError, auth_errors.AuthRequired):
    """No valid token: a 401 persisted after one forced refresh, or no silent token exists.

    It is also an ``onemount.auth.AuthRequired``, so one ``except`` catches it wherever it came
    from. The request path never prompts (L19): the state is reported and the call fails.
    """


class Offline(GraphError):
    """No answer: the connection failed or dropped on every attempt (decided by exception type)."""


class MalformedResponse(GraphError):
    """A success answer that is not the JSON shape Graph documents, or carries unsafe data."""


class HashMismatch(GraphError):
    """Downloaded bytes do not hash to the quickXorHash the item advertised."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(ErrorInfo(None), f"quickXorHash {actual} != expected {expected}")


def error_info(response: httpx.Response) -> ErrorInfo:
    """Parse ``response`` (already read) into :class:`ErrorInfo`, whatever its body is.

    An error body that is not JSON (a proxy's HTML page, a truncated body) still yields the
    status and the request id from the header: the status alone decides the class then.
    """
    codes: list[str] = []
    message = ""
    request_id = response.headers.get("request-id")
    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        if isinstance(error.get("message"), str):
            message = error["message"]
        for level in _error_levels(error):
            if isinstance(level.get("code"), str):
                codes.append(level["code"])
            if request_id is None and isinstance(level.get("request-id"), str):
                request_id = level["request-id"]
    elif isinstance(error, str):
        codes.append(error)  # OAuth-style bodies: {"error": "invalid_grant"}
    return ErrorInfo(response.status_code, tuple(codes), message, request_id)


def _error_levels(error: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The error object and each nested ``innerError``/``innererror`` (any spelling), in order."""
    level: Any = error
    for _ in range(16):  # a bound, so a pathological body cannot loop us
        if not isinstance(level, Mapping):
            return
        yield level
        level = next((v for k, v in level.items() if k.lower() == "innererror"), None)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


def classify(response: httpx.Response, *, retry_after: float | None = None) -> GraphError:
    """The typed error for a failed ``response`` (status >= 400, body already read)."""
    info = error_info(response)
    status = response.status_code
    if status in THROTTLE_STATUSES and (status == 429 or retry_after is not None):
        return Throttled(info, retry_after)
    if status == 401:
        return AuthRequired(info)
    if status == 404:
        return NotFound(info)
    if status == 409 and info.has_code(_NAME_CONFLICT_CODES):
        return NameConflict(info)
    if status == 410:
        return ResyncRequired(info, response.headers.get("location"))
    if status == 412:
        return PreconditionFailed(info)
    if status == 416:
        return RangeNotSatisfiable(info)
    if status == 507 or info.has_code(frozenset({"quotalimitreached"})):
        return QuotaExceeded(info)
    if status == 400 and info.has_code(_INVALID_NAME_CODES):
        return InvalidName(info)
    if status in RETRYABLE_STATUSES:
        return ServerError(info)
    return GraphError(info)
