"""Error bodies and request ids (39), bearer-token checks (41), and fault injection with the
request log (40)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakegraph.conftest import (
    DELTA,
    Api,
    assert_error,
    error_codes,
    item_url,
    ok,
    open_api,
    path_url,
)


@pytest.fixture(scope="module")
def shared() -> Iterator[Api]:
    """One drive for the read-mostly tests here; each adds only names of its own."""
    with open_api() as opened:
        yield opened


def _expired_token(api: Api) -> str:
    return api.fake.graph.authority.issue_static_token(ttl=-1)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "expired", "token-only"],
)
def test_a_missing_or_bad_bearer_token_is_401(shared: Api, authorization: str | None) -> None:
    """No, malformed, unknown or expired token: 401 InvalidAuthenticationToken with a
    ``WWW-Authenticate: Bearer ...`` header, on every Graph route (41)."""
    if authorization == "expired":
        authorization = f"Bearer {_expired_token(shared)}"
    elif authorization == "token-only":
        authorization = shared.fake.token
    headers = {} if authorization is None else {"Authorization": authorization}
    routes = [
        ("GET", "/me/drive"),
        ("GET", DELTA),
        ("PUT", path_url("x.txt", action="/content")),
        ("DELETE", item_url(shared.root_id)),
    ]
    for method, url in routes:
        response = shared.bare.request(method, f"{shared.fake.base_url}{url}", headers=headers)
        assert_error(response, 401, "InvalidAuthenticationToken")
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert shared.drive.child(shared.root_id, "x.txt") is None


def test_the_bearer_scheme_is_case_insensitive(shared: Api) -> None:
    """``Authorization: bearer {token}`` is how the docs write it (§12)."""
    response = shared.bare.get(
        f"{shared.fake.base_url}/me/drive", headers={"Authorization": f"bearer {shared.fake.token}"}
    )
    assert ok(response)["id"] == shared.drive.drive_id


_ERRORS: dict[str, Callable[[Api], httpx.Response]] = {
    "400 bad name": lambda api: api.mkdir("a:b"),
    "400 bad json": lambda api: api.http.patch(item_url(api.root_id), content=b"{nope"),
    "400 unsupported resource": lambda api: api.http.get("/me/drive/special/approot"),
    "404 item": lambda api: api.http.get(item_url("no-such-id")),
    "404 path": lambda api: api.http.get(path_url("nowhere", "at all")),
    "404 drive": lambda api: api.http.get("/drives/nope/root"),
    "405 method": lambda api: api.http.post("/me/drive"),
    "405 item method": lambda api: api.http.put(item_url(api.root_id)),
    "409 name": lambda api: api.mkdir("Same") and api.mkdir("SAME"),
    "410 delta": lambda api: api.http.get(DELTA, params={"token": "stale"}),
    "412 if-match": lambda api: api.http.delete(
        item_url(api.file("m.txt")["id"]), headers={"If-Match": '"stale"'}
    ),
    "413 simple upload": lambda api: api.put("big.bin", b"\0" * ((4 << 20) + 1)),
    "416 download": lambda api: api.bare.get(
        api.file("r.txt", b"abc")["@microsoft.graph.downloadUrl"], headers={"Range": "bytes=9-"}
    ),
    "401 upload url": lambda api: api.bare.put(
        api.upload_url("u.bin"), content=b"x", headers={"Authorization": "Bearer x"}
    ),
    "404 upload url": lambda api: api.bare.get(f"{api.fake.origin}/up/no-such-session"),
    "405 upload url": lambda api: api.bare.patch(api.upload_url("v.bin")),
}


@pytest.mark.parametrize("make", _ERRORS.values(), ids=_ERRORS.keys())
def test_every_error_has_graphs_shape_and_a_request_id(
    shared: Api, make: Callable[[Api], httpx.Response]
) -> None:
    """``{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}``
    plus a ``request-id`` header that matches (39)."""
    response = make(shared)
    assert_error(response, response.status_code)
    assert response.status_code >= 400


def test_a_client_request_id_is_echoed(shared: Api) -> None:
    """A ``client-request-id`` the client sends comes back in innerError (39)."""
    response = shared.http.get(item_url("missing"), headers={"client-request-id": "abc-123"})
    body = assert_error(response, 404, "itemNotFound")
    assert body["error"]["innerError"]["client-request-id"] == "abc-123"


def test_every_answer_has_a_request_id(shared: Api) -> None:
    """Successes too: 200, 201, 202, 204, 206, 302 and 304 all carry ``request-id`` (39)."""
    file = ok(shared.put("ids.txt", b"0123456789"), 201)
    url = shared.upload_url("ids.bin")
    responses = [
        shared.http.get("/me/drive"),
        shared.http.get(item_url(file["id"], "/content")),
        shared.http.get(item_url(file["id"]), headers={"If-None-Match": file["eTag"]}),
        shared.bare.get(file["@microsoft.graph.downloadUrl"]),
        shared.bare.get(file["@microsoft.graph.downloadUrl"], headers={"Range": "bytes=1-2"}),
        shared.fragment(url, b"x", 0, 2),
        shared.http.delete(item_url(file["id"])),
    ]
    assert [r.status_code for r in responses] == [200, 302, 304, 200, 206, 202, 204]
    assert all(r.headers.get("request-id") for r in responses)


def _add_rule(api: Api, **rule: object) -> dict[str, object]:
    response = api.admin("POST", "/faults", json=rule)
    assert response.status_code == 201, response.text
    added: dict[str, object] = response.json()
    return added


def test_a_throttling_rule_answers_429_with_retry_after_and_graphs_body(api: Api) -> None:
    """A 429 rule: ``Retry-After: N`` (integer seconds) and activityLimitReached /
    throttledRequest; ``skip`` lets matches through first, ``count`` limits the hits (40)."""
    rule = _add_rule(api, path="/v1.0/me/drive", method="GET", status=429, retry_after=41,
                     count=2, skip=1)  # fmt: skip
    assert api.admin("DELETE", "/requests").status_code == 204
    responses = [api.http.get("/me/drive") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 429, 429, 200]
    for throttled in responses[1:3]:
        assert throttled.headers["Retry-After"] == "41"
        body = throttled.json()
        assert error_codes(body)[:2] == ["activityLimitReached", "throttledRequest"]
        assert body["error"]["message"]
        assert body["error"]["innerError"]["request-id"] == throttled.headers["request-id"]
        assert body["error"]["innerError"]["date"]
    assert api.http.get(item_url(api.root_id)).status_code == 200  # another path: no match
    log = api.admin("GET", "/requests").json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/v1.0/me/drive", 200),
        ("GET", "/v1.0/me/drive", 429),
        ("GET", "/v1.0/me/drive", 429),
        ("GET", "/v1.0/me/drive", 200),
        ("GET", f"/v1.0/me/drive/items/{api.root_id}", 200),
    ]
    assert [e["fault"] for e in log] == [None, rule["id"], rule["id"], None, None]
    times = [e["at"] for e in log]
    assert times == sorted(times)
    assert api.admin("GET", "/faults").json() == []  # a spent rule removes itself


def test_an_injected_error_has_the_full_error_shape(api: Api) -> None:
    """Injected errors are Graph errors too, with the whole innerError (39, 40)."""
    _add_rule(api, path="/v1.0/me/drive", status=429, retry_after=1)
    assert_error(api.http.get("/me/drive"), 429, "activityLimitReached", "throttledRequest")


@pytest.mark.parametrize("status", [503, 500, 502, 504, 509])
def test_server_error_rules_answer_their_status_until_cleared(api: Api, status: int) -> None:
    """5xx rules (503 with Retry-After) by method and glob; ``count: -1`` acts until the rule
    list is cleared (40)."""
    retry = {"retry_after": 7} if status == 503 else {}
    _add_rule(api, path="/v1.0/me/drive/items/*", method="GET", status=status, count=-1, **retry)
    for _ in range(3):
        response = api.http.get(item_url(api.root_id))
        assert response.status_code == status
        assert (
            response.headers["request-id"] == response.json()["error"]["innerError"]["request-id"]
        )
        if status == 503:
            assert response.headers["Retry-After"] == "7"
            assert error_codes(response.json())[:2] == ["activityLimitReached", "throttledRequest"]
    assert api.http.get("/me/drive").status_code == 200  # outside the glob
    assert api.http.patch(item_url(api.file("f.txt")["id"]), json={}).status_code == 200
    assert api.admin("DELETE", "/faults").status_code == 204
    assert api.http.get(item_url(api.root_id)).status_code == 200


def test_a_dropped_response_still_takes_effect(api: Api) -> None:
    """``drop: response`` cuts the answer after the request took effect (40)."""
    _add_rule(api, path="/v1.0/me/drive/items/*", method="POST", drop="response")
    with pytest.raises(httpx.TransportError):
        api.mkdir("made")
    assert api.drive.child(api.root_id, "made") is not None
    log = api.admin("GET", "/requests").json()
    assert log[-1]["status"] is None and log[-1]["fault"]


def test_a_dropped_request_stores_nothing(api: Api) -> None:
    """``drop: request`` closes the connection mid-body: nothing is stored (40)."""
    _add_rule(api, path="/up/*", method="PUT", drop="request", drop_after=10)
    url = api.upload_url("f.bin")
    with pytest.raises(httpx.TransportError):
        api.fragment(url, b"x" * 100, 0, 100)
    assert ok(api.bare.get(url))["nextExpectedRanges"] == ["0-"]
