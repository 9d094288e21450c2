"""The fake identity platform as clients other than msal use it: the native-client redirect
without PKCE, and tokens that outlive a restart of the fake (checklist 42, 43).

Raw HTTP against the routes, as a client of the identity platform sends it; the restarts are
real ones (a new server and a new authority over the same ``--data`` folder).
"""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from onemount.fakegraph import build
from onemount.fakegraph.oauth import NATIVE_CLIENT_REDIRECT
from onemount.fakegraph.server import TOKENS_FILE
from tests.graph.fake import RunningFake, running_fake

CLIENT = "d50ca740-c83f-4d1b-b616-12c519384f0c"
SCOPE = "Files.ReadWrite offline_access"


def authorize(fake: RunningFake, redirect_uri: str, **extra: str) -> httpx.Response:
    params = {"client_id": CLIENT, "redirect_uri": redirect_uri, "response_type": "code"}
    return httpx.get(
        f"{fake.origin}/common/oauth2/v2.0/authorize",
        params={**params, "scope": SCOPE, "state": "s7", **extra},
    )


def code_of(answer: httpx.Response, redirect_uri: str) -> str:
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(redirect_uri + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s7"]
    return query["code"][0]


def token(fake: RunningFake, **form: str) -> httpx.Response:
    return httpx.post(f"{fake.origin}/common/oauth2/v2.0/token", data={"client_id": CLIENT, **form})


def sign_in(fake: RunningFake) -> dict[str, str]:
    """The native-client flow: authorize, copy the code from the blank page's URL, redeem."""
    code = code_of(authorize(fake, NATIVE_CLIENT_REDIRECT), NATIVE_CLIENT_REDIRECT)
    answer = token(
        fake, grant_type="authorization_code", code=code, redirect_uri=NATIVE_CLIENT_REDIRECT
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    return tokens


def graph_status(fake: RunningFake, access_token: str) -> int:
    auth = {"Authorization": f"Bearer {access_token}"}
    return httpx.get(f"{fake.base_url}/me/drive/root", headers=auth).status_code


def test_the_native_client_redirect_signs_in_without_pkce() -> None:
    """A public client may use the registered ``…/oauth2/nativeclient`` page without PKCE; the
    page is served (blank) and its code redeems for tokens Graph accepts."""
    with running_fake() as fake:
        tokens = sign_in(fake)
        assert graph_status(fake, tokens["access_token"]) == 200
        assert tokens["refresh_token"] and tokens["token_type"] == "Bearer"
        landing = urlsplit(authorize(fake, NATIVE_CLIENT_REDIRECT).headers["location"])
        page = httpx.get(f"{fake.origin}{landing.path}?{landing.query}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        # The same page on the fake's own host, for a client pointed at the fake by its name.
        own = f"https://{urlsplit(fake.origin).netloc}/common/oauth2/nativeclient"
        assert code_of(authorize(fake, own), own)


def test_pkce_stays_required_where_it_was() -> None:
    """Loopback redirects still need PKCE; a challenge given with the native client must be
    met; any other https page is refused."""
    with running_fake() as fake:
        assert authorize(fake, "http://localhost:5000").status_code == 400
        verifier = "v" * 48
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
        answer = authorize(fake, NATIVE_CLIENT_REDIRECT, **pkce)
        grant = {"grant_type": "authorization_code", "redirect_uri": NATIVE_CLIENT_REDIRECT}
        wrong = token(fake, code=code_of(answer, NATIVE_CLIENT_REDIRECT), **grant)
        assert wrong.json()["error"] == "invalid_grant"
        answer = authorize(fake, NATIVE_CLIENT_REDIRECT, **pkce)
        right = token(
            fake, code=code_of(answer, NATIVE_CLIENT_REDIRECT), code_verifier=verifier, **grant
        )
        assert right.status_code == 200
        for elsewhere in (
            "https://evil.example/common/oauth2/nativeclient",
            "http://login.microsoftonline.com/common/oauth2/nativeclient",
            "https://login.microsoftonline.com/common/oauth2/somewhere",
        ):
            assert authorize(fake, elsewhere).status_code == 400, elsewhere


def test_tokens_survive_a_restart_and_keep_rotating(tmp_path: Path) -> None:
    """Access and refresh tokens are kept beside the drive (mode 0600): after a restart the
    access token still opens Graph, the refresh token still refreshes, and a refresh token
    spent before the restart stays spent."""
    with running_fake(data_dir=tmp_path) as fake:
        first = sign_in(fake)
        spent = first["refresh_token"]
        second = token(fake, grant_type="refresh_token", refresh_token=spent).json()
    assert stat.S_IMODE((tmp_path / TOKENS_FILE).stat().st_mode) == 0o600
    assert spent not in (tmp_path / TOKENS_FILE).read_text()
    with running_fake(data_dir=tmp_path) as fake:
        assert graph_status(fake, first["access_token"]) == 200
        assert graph_status(fake, second["access_token"]) == 200
        reused = token(fake, grant_type="refresh_token", refresh_token=spent)
        assert reused.json()["error"] == "invalid_grant"
        third = token(fake, grant_type="refresh_token", refresh_token=second["refresh_token"])
        assert third.status_code == 200 and graph_status(fake, third.json()["access_token"]) == 200
        fake.graph.authority.revoke_refresh_tokens()
    with running_fake(data_dir=tmp_path) as fake:  # a revocation is kept too
        again = token(fake, grant_type="refresh_token", refresh_token=third.json()["refresh_token"])
        assert again.json()["error"] == "invalid_grant"


def test_the_serving_token_is_the_same_after_a_restart(tmp_path: Path) -> None:
    """``fakegraph serve`` prints the token it printed before while that has more than half its
    life ahead, so a client configured with it keeps working; then a fresh one."""
    fake = build(tmp_path)
    printed = fake.authority.serving_token(100.0)
    fake.drive.close()
    fake = build(tmp_path)
    assert fake.authority.serving_token(100.0) == printed
    assert fake.authority.check_bearer(f"Bearer {printed}")
    renewed = fake.authority.serving_token(1000.0)  # 100 s left is under half of 1000
    assert renewed != printed and fake.authority.check_bearer(f"Bearer {printed}")
    fake.drive.close()


def test_a_damaged_token_file_is_a_clear_error_and_the_drive_is_untouched(tmp_path: Path) -> None:
    """A token file the fake cannot read stops it with a message naming the file and the way
    out; the drive beside it is not touched."""
    fake = build(tmp_path, seed="sample")
    names = {child.name for child in fake.drive.children(fake.drive.root_id, None, 100)}
    fake.drive.close()
    (tmp_path / TOKENS_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"tokens\.json.*remove it"):
        build(tmp_path)
    (tmp_path / TOKENS_FILE).unlink()
    fake = build(tmp_path, seed="sample")
    assert {c.name for c in fake.drive.children(fake.drive.root_id, None, 100)} == names
    fake.drive.close()
