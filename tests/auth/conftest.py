"""A real TLS server on 127.0.0.1 serving only the fake authority's routes.

msal accepts nothing but https authorities, so the fake is served over TLS with the throwaway
self-signed certificate of the ``tls`` fixture (tests/conftest.py), which msal is told to trust
via ``ca_bundle``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette

from onemount.auth.config import AuthConfig
from onemount.fakegraph import Tls, serve_in_thread
from onemount.fakegraph.oauth import FakeAuthority

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@dataclass(frozen=True)
class AuthorityServer:
    authority: FakeAuthority
    base_url: str  # https://127.0.0.1:<port>
    tls: Tls

    @property
    def tenant_url(self) -> str:
        return f"{self.base_url}/common"


@pytest.fixture
def authority_server(tls: Tls) -> Iterator[AuthorityServer]:
    authority = FakeAuthority()
    with serve_in_thread(Starlette(routes=authority.routes), tls=tls) as base_url:
        yield AuthorityServer(authority, base_url, tls)


@pytest.fixture
def auth_config(authority_server: AuthorityServer, tmp_path: Path) -> AuthConfig:
    return AuthConfig(
        client_id=CLIENT_ID,
        authority=authority_server.tenant_url,
        config_dir=tmp_path / "config" / "onemount",
        ca_bundle=str(authority_server.tls.cert),
        use_keyring=False,
    )
