"""The one exception the fake's drive raises; the app turns it into Graph's error body."""

from __future__ import annotations


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
