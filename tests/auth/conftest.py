"""A real TLS server on 127.0.0.1 serving only the fake authority's routes.

msal accepts nothing but https authorities, so the fake is served over TLS with the throwaway
self-signed certificate of the ``tls`` fixture (tests/conftest.py), which msal is told to trust
via ``ca_bundle``. The token endpoint's answers are recorded as they leave (:class:`TokenAnswers`),
so a test can wait for "a poll was told authorization_pending" instead of sleeping.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from starlette.applications import Starlette

from onemount.auth.config import AuthConfig
from onemount.fakegraph import Tls, serve_in_thread
from onemount.fakegraph.oauth import FakeAuthority

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TOKEN_PATH = "/oauth2/v2.0/token"


class TokenAnswers:
    """ASGI wrapper writing down each token-endpoint answer: its ``error`` code, or "tokens".

    The server runs its own trio loop in another thread, so a waiter is woken through its own
    loop's token (``run_sync_soon``, which never blocks the server).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._answers: list[str] = []
        self._waiters: list[tuple[str, trio.lowlevel.TrioToken, trio.Event]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(TOKEN_PATH):
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        self._record(str(json.loads(body).get("error", "tokens")))

    def _record(self, answer: str) -> None:
        with self._lock:
            self._answers.append(answer)
            woken = [w for w in self._waiters if w[0] == answer]
            self._waiters = [w for w in self._waiters if w[0] != answer]
        for _, token, event in woken:
            with contextlib.suppress(trio.RunFinishedError):  # the waiting test has ended
                token.run_sync_soon(event.set)

    def answers(self) -> list[str]:
        with self._lock:
            return list(self._answers)

    async def wait_for(self, answer: str) -> None:
        """Return once the endpoint has given ``answer`` (at once if it already has)."""
        event = trio.Event()
        with self._lock:
            if answer in self._answers:
                return
            self._waiters.append((answer, trio.lowlevel.current_trio_token(), event))
        await event.wait()


@dataclass(frozen=True)
class AuthorityServer:
    authority: FakeAuthority
    base_url: str  # https://127.0.0.1:<port>
    tls: Tls
    token_answers: TokenAnswers

    @property
    def tenant_url(self) -> str:
        return f"{self.base_url}/common"


@pytest.fixture
def authority_server(tls: Tls) -> Iterator[AuthorityServer]:
    authority = FakeAuthority()
    answers = TokenAnswers(Starlette(routes=authority.routes))
    with serve_in_thread(answers, tls=tls) as base_url:
        yield AuthorityServer(authority, base_url, tls, answers)


@pytest.fixture
def auth_config(authority_server: AuthorityServer, tmp_path: Path) -> AuthConfig:
    return AuthConfig(
        client_id=CLIENT_ID,
        authority=authority_server.tenant_url,
        config_dir=tmp_path / "config" / "onemount",
        ca_bundle=str(authority_server.tls.cert),
        use_keyring=False,
    )
