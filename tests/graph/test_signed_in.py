"""The whole path a signed-in mount takes: msal signs in against the fake's identity routes, and
the Graph client calls the fake's Graph routes with the tokens msal holds, all over one TLS
origin on 127.0.0.1.

An expired access token is refreshed silently (a 401, one forced refresh, the call replayed);
a revoked sign-in ends the call with AuthRequired and puts the connectivity machine in
AUTH_REQUIRED, without ever prompting on the request path.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from onemount.auth import Authenticator
from onemount.auth.config import AuthConfig
from onemount.fakegraph import FakeGraph, Tls, build, serve_in_thread
from onemount.graph import AuthRequired, Connectivity, GraphClient, GraphConfig
from tests.auth.conftest import CLIENT_ID


@pytest.fixture
def tls_fake(tls: Tls) -> Iterator[tuple[FakeGraph, str]]:
    with tempfile.TemporaryDirectory(prefix="fakegraph-") as data:
        fake = build(Path(data), seed="sample")
        with serve_in_thread(fake.asgi(), tls=tls) as origin:
            yield fake, origin
        fake.drive.close()


def test_msal_tokens_open_the_fakes_graph_and_a_revoked_sign_in_is_reported(
    tls_fake: tuple[FakeGraph, str], tls: Tls, tmp_path: Path
) -> None:
    fake, origin = tls_fake
    config = AuthConfig(
        client_id=CLIENT_ID,
        authority=f"{origin}/common",
        config_dir=tmp_path / "config",
        ca_bundle=str(tls.cert),
        use_keyring=False,
    )
    trust = ssl.create_default_context(cafile=tls.cert)

    def approve(message: str) -> None:
        (code,) = fake.authority.pending_user_codes()
        assert code in message
        fake.authority.approve_device_code(code)

    async def main() -> None:
        auth = Authenticator(config)
        await auth.login_device_code(approve)
        link = Connectivity()
        transport = httpx.AsyncHTTPTransport(verify=trust)
        settings = GraphConfig(base_url=f"{origin}/v1.0")
        async with GraphClient(auth, settings, transport=transport, listener=link) as graph:
            welcome = await graph.item_by_path("/Documents/Welcome.txt")
            assert welcome.size == 177

            fake.authority.expire_access_tokens()  # the hour is up: 401, refresh, replay
            assert (await graph.root()).is_root
            assert link.state == "ONLINE"

            fake.authority.expire_access_tokens()
            fake.authority.revoke_refresh_tokens()  # e.g. the password changed elsewhere
            with trio.fail_after(10), pytest.raises(AuthRequired):
                await graph.root()
            assert link.state == "AUTH_REQUIRED"

    trio.run(main)
