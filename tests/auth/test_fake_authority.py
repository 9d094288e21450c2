"""The fake authority's protocol, driven with raw HTTP as a client other than msal would."""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from onemount.fakegraph.oauth import DEVICE_CODE_GRANT, FakeAuthority
from tests.auth.conftest import CLIENT_ID, AuthorityServer


@pytest.fixture
def http(authority_server: AuthorityServer) -> Iterator[httpx.Client]:
    trust = ssl.create_default_context(cafile=authority_server.tls.cert)
    with httpx.Client(base_url=authority_server.tenant_url, verify=trust) as client:
        yield client


def token(http: httpx.Client, **form: str) -> httpx.Response:
    return http.post("/oauth2/v2.0/token", data={"client_id": CLIENT_ID, **form})


def device_tokens(http: httpx.Client, authority: FakeAuthority) -> dict[str, str]:
    start = http.post("/oauth2/v2.0/devicecode", data={"client_id": CLIENT_ID, "scope": "x"})
    authority.approve_device_code(start.json()["user_code"])
    reply = token(http, grant_type=DEVICE_CODE_GRANT, device_code=start.json()["device_code"])
    assert reply.status_code == 200
    tokens: dict[str, str] = reply.json()
    return tokens


def test_openid_configuration_points_at_this_server(
    http: httpx.Client, authority_server: AuthorityServer
) -> None:
    config = http.get("/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{authority_server.tenant_url}/oauth2/v2.0/token"
    assert config["device_authorization_endpoint"].endswith("/common/oauth2/v2.0/devicecode")


def test_device_code_pending_then_tokens(
    http: httpx.Client, authority_server: AuthorityServer
) -> None:
    start = http.post("/oauth2/v2.0/devicecode", data={"client_id": CLIENT_ID, "scope": "x"})
    body = start.json()
    assert set(body) >= {"device_code", "user_code", "verification_uri", "expires_in"}
    assert set(body) >= {"interval", "message"}
    poll = token(http, grant_type=DEVICE_CODE_GRANT, device_code=body["device_code"])
    assert (poll.status_code, poll.json()["error"]) == (400, "authorization_pending")
    authority_server.authority.approve_device_code(body["user_code"])
    done = token(http, grant_type=DEVICE_CODE_GRANT, device_code=body["device_code"])
    assert done.status_code == 200
    assert authority_server.authority.check_bearer(f"Bearer {done.json()['access_token']}")


def test_device_code_expires(http: httpx.Client, authority_server: AuthorityServer) -> None:
    authority_server.authority.device_code_ttl = 0
    start = http.post("/oauth2/v2.0/devicecode", data={"client_id": CLIENT_ID, "scope": "x"})
    poll = token(http, grant_type=DEVICE_CODE_GRANT, device_code=start.json()["device_code"])
    assert poll.json()["error"] == "expired_token"


def test_refresh_rotates_and_invalidates_the_old_token(
    http: httpx.Client, authority_server: AuthorityServer
) -> None:
    first = device_tokens(http, authority_server.authority)
    second = token(http, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    replay = token(http, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")


def test_refresh_without_rotation_keeps_the_old_token(
    http: httpx.Client, authority_server: AuthorityServer
) -> None:
    authority_server.authority.rotate_refresh_tokens = False
    first = device_tokens(http, authority_server.authority)
    for _ in range(2):
        again = token(http, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert again.status_code == 200


def test_unknown_and_revoked_refresh_tokens_are_invalid_grant(
    http: httpx.Client, authority_server: AuthorityServer
) -> None:
    assert token(http, grant_type="refresh_token", refresh_token="nope").json() == {
        "error": "invalid_grant",
        "error_description": "AADSTS70000: the refresh token is not valid",
    }
    issued = device_tokens(http, authority_server.authority)
    authority_server.authority.revoke_refresh_tokens()
    reply = token(http, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert reply.json()["error"] == "invalid_grant"


def test_bearer_checks(authority_server: AuthorityServer) -> None:
    authority = authority_server.authority
    static = authority.issue_static_token()
    assert authority.check_bearer(f"Bearer {static}")
    assert authority.check_bearer(f"bearer {static}")
    assert not authority.check_bearer(None)
    assert not authority.check_bearer(static)
    assert not authority.check_bearer("Bearer forged")
    assert not authority.check_bearer(f"Bearer {authority.issue_static_token(ttl=0)}")
    authority.expire_access_tokens()
    assert not authority.check_bearer(f"Bearer {static}")


def pkce_pair() -> tuple[str, str]:
    verifier = "v" * 50
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(http: httpx.Client, challenge: str) -> str:
    redirect = http.get(
        "/oauth2/v2.0/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": "http://localhost:1234",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s1",
            "response_type": "code",
        },
    )
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    assert location.netloc == "localhost:1234"
    query = parse_qs(location.query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def test_auth_code_requires_the_matching_verifier(http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    code = authorize(http, challenge)
    common = {"grant_type": "authorization_code", "redirect_uri": "http://localhost:1234"}
    wrong = token(http, code=code, code_verifier="w" * 50, **common)
    assert wrong.json()["error"] == "invalid_grant"
    code = authorize(http, challenge)
    right = token(http, code=code, code_verifier=verifier, **common)
    assert right.status_code == 200
    reused = token(http, code=code, code_verifier=verifier, **common)
    assert reused.json()["error"] == "invalid_grant"


def test_authorize_refuses_non_loopback_redirects(http: httpx.Client) -> None:
    reply = http.get(
        "/oauth2/v2.0/authorize",
        params={"redirect_uri": "https://evil.example/", "code_challenge": "c"},
    )
    assert reply.status_code == 400


def test_client_secret_is_refused(http: httpx.Client) -> None:
    reply = token(http, grant_type="refresh_token", refresh_token="x", client_secret="s")
    assert reply.status_code == 401
