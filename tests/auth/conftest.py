"""A real TLS server on 127.0.0.1 serving only the fake authority's routes.

msal accepts nothing but https authorities, so the fake is served over TLS with a throwaway
self-signed certificate (made by the openssl CLI) that msal is told to trust via ``ca_bundle``.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette

from onemount.auth.config import AuthConfig
from onemount.fakegraph.oauth import FakeAuthority

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


@dataclass(frozen=True)
class AuthorityServer:
    authority: FakeAuthority
    base_url: str  # https://127.0.0.1:<port>
    tls: Tls

    @property
    def tenant_url(self) -> str:
        return f"{self.base_url}/common"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Tls(cert, key)


def serve_in_thread(app: Any, tls: Tls) -> Iterator[str]:
    """Run ``app`` under hypercorn on its own trio loop in a thread; yield its base URL."""
    started: queue.Queue[tuple[list[str], trio.lowlevel.TrioToken, trio.Event]] = queue.Queue()

    async def main() -> None:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.certfile, config.keyfile = str(tls.cert), str(tls.key)
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown.wait))
            started.put((binds, trio.lowlevel.current_trio_token(), shutdown))

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    binds, token, shutdown = started.get(timeout=30)
    try:
        yield binds[0]
    finally:
        trio.from_thread.run_sync(shutdown.set, trio_token=token)
        thread.join(timeout=30)


@pytest.fixture
def authority_server(tls: Tls) -> Iterator[AuthorityServer]:
    authority = FakeAuthority()
    for base_url in serve_in_thread(Starlette(routes=authority.routes), tls):
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
