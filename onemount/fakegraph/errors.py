"""The one exception the fake's drive raises; the app turns it into Graph's error body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


class FakeError(Exception):
    """An HTTP error the way Graph reports it: status, code, message, optional inner code.

    ``headers`` go on the response as they are (``Retry-After``, ``Location``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = headers or {}


def not_found(what: str = "The resource could not be found.") -> FakeError:
    return FakeError(404, "itemNotFound", what)


def name_conflict(name: str) -> FakeError:
    return FakeError(409, "nameAlreadyExists", f"Name already exists: {name}")


def precondition_failed() -> FakeError:
    return FakeError(
        412, "resourceModified", "ETag does not match current item's value", "entityTagDoesNotMatch"
    )


def invalid_request(message: str, inner: str | None = None) -> FakeError:
    return FakeError(400, "invalidRequest", message, inner)


def error_body(
    code: str,
    message: str,
    inner: dict[str, Any] | None = None,
    *,
    client_request_id: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Graph's error body (39) and its request id: ``{"error": {code, message, innerError:
    {..., date, request-id, client-request-id}}}``; ``inner`` holds the nested codes."""
    request_id = str(uuid.uuid4())
    inner_error = {
        **(inner or {}),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
    }
    return {"error": {"code": code, "message": message, "innerError": inner_error}}, request_id
