"""Error classification: status first, then the most specific code; never the message."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from onemount.graph.errors import (
    GraphError,
    InvalidName,
    NameConflict,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    RangeNotSatisfiable,
    ResyncRequired,
    ServerError,
    Throttled,
    classify,
    error_info,
)


def response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


THROTTLE_BODY = {
    "error": {
        "code": "activityLimitReached",
        "message": "The request has been throttled",
        "innerError": {
            "code": "throttledRequest",
            "innerError": {"code": "quota"},
            "date": "2021-11-30T12:17:46",
            "request-id": "01c3bdb8-fbb1-4613-96ad-be961ba99e11",
        },
    }
}


def test_the_code_chain_is_walked_in_any_spelling() -> None:
    info = error_info(response(429, THROTTLE_BODY))
    assert info.codes == ("activityLimitReached", "throttledRequest", "quota")
    assert info.request_id == "01c3bdb8-fbb1-4613-96ad-be961ba99e11"
    lower = {"error": {"code": "invalidRange", "innererror": {"code": "fragmentOverlap"}}}
    assert error_info(response(416, lower)).codes == ("invalidRange", "fragmentOverlap")


def test_the_request_id_header_wins() -> None:
    info = error_info(response(404, THROTTLE_BODY, **{"request-id": "from-header"}))
    assert info.request_id == "from-header"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": {"code": "itemNotFound"}}, NotFound),
        (409, {"error": {"code": "nameAlreadyExists"}}, NameConflict),
        (
            412,
            {"error": {"code": "notAllowed", "innererror": {"code": "preconditionFailed"}}},
            PreconditionFailed,
        ),
        (412, {"error": {"code": "resourceModified"}}, PreconditionFailed),
        (416, {"error": {"code": "invalidRange"}}, RangeNotSatisfiable),
        (507, {"error": {"code": "quotaLimitReached"}}, QuotaExceeded),
        (
            400,
            {"error": {"code": "invalidRequest", "innerError": {"code": "invalidPath"}}},
            InvalidName,
        ),
        (
            400,
            {"error": {"code": "invalidRequest", "innerError": {"code": "pathIsTooLong"}}},
            InvalidName,
        ),
        (429, THROTTLE_BODY, Throttled),
        (500, {"error": {"code": "generalException"}}, ServerError),
        (509, None, ServerError),
        (503, None, ServerError),  # no Retry-After: an outage, backed off like a 5xx
    ],
)
def test_classification(status: int, body: Any, expected: type[GraphError]) -> None:
    assert type(classify(response(status, body))) is expected


def test_a_409_that_is_not_a_name_clash_is_not_a_name_conflict() -> None:
    error = classify(response(409, {"error": {"code": "conflict"}}))
    assert type(error) is GraphError and error.status == 409


def test_the_message_never_decides() -> None:
    body = {"error": {"code": "invalidRequest", "message": "invalidPath nameAlreadyExists"}}
    assert type(classify(response(400, body))) is GraphError


def test_503_with_retry_after_is_a_throttle() -> None:
    error = classify(response(503, None), retry_after=12.0)
    assert isinstance(error, Throttled) and error.retry_after == 12.0


def test_410_carries_the_location() -> None:
    fresh = "https://graph.microsoft.com/v1.0/me/drive/root/delta?token=fresh"
    error = classify(response(410, {"error": {"code": "resyncRequired"}}, location=fresh))
    assert isinstance(error, ResyncRequired) and error.location == fresh


@pytest.mark.parametrize(
    "body", [b"<html>Bad Gateway</html>", b"", b"\xff\xfe", b"[1, 2]", b'{"error": 7}']
)
def test_any_error_body_still_classifies_by_status(body: bytes) -> None:
    error = classify(response(404, body, **{"request-id": "r1"}))
    assert isinstance(error, NotFound)
    assert error.codes == () and error.request_id == "r1"


def test_the_error_text_names_the_status_codes_and_request_id() -> None:
    text = str(classify(response(429, THROTTLE_BODY), retry_after=41))
    assert "HTTP 429" in text and "activityLimitReached/throttledRequest/quota" in text
    assert "01c3bdb8" in text and "41" in text
