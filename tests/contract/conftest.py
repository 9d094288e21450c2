"""The backends the contract suite runs against: the fake always, the real Graph on request.

``ONEMOUNT_LIVE_GRAPH=1`` adds the live backend. It needs credentials: either
``ONEMOUNT_LIVE_TOKEN`` (a bearer token for Files.ReadWrite) or an account signed in with
``onemount auth login`` (the configured app registration and token cache are used). Without
them the live runs are skipped, with the reason. Every test works in a scratch folder of its
own under the drive root, deleted afterwards (to the recycle bin, on the real drive).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trio

from onemount.fakegraph import build
from onemount.graph import (
    DriveItem,
    GraphClient,
    GraphConfig,
    GraphError,
    RetryPolicy,
    StaticToken,
    TokenProvider,
)
from tests.graph.fake import running_fake

_T = TypeVar("_T")
Check = Callable[[GraphClient, DriveItem, Path], Awaitable[None]]


@dataclass(frozen=True)
class Backend:
    name: str
    base_url: str
    tokens: TokenProvider
    app: Any = None  # an ASGI app to reach in process instead of over TCP

    def run(self, check: Check, **config_fields: Any) -> None:
        """Run ``check`` with a client for this backend, in a fresh scratch folder."""

        async def main() -> None:
            policy = RetryPolicy(max_total=60, backoff_base=0.2, backoff_cap=2)
            config = GraphConfig(base_url=self.base_url, policy=policy, **config_fields)
            transport = httpx.ASGITransport(app=self.app) if self.app is not None else None
            async with GraphClient(self.tokens, config, transport=transport) as graph:
                root = await graph.root()
                scratch = await graph.create_folder(
                    root.id, f"onemount-contract-{uuid.uuid4().hex[:12]}"
                )
                try:
                    with tempfile.TemporaryDirectory() as tmp:
                        await check(graph, scratch, Path(tmp))
                finally:
                    with contextlib.suppress(GraphError):
                        await graph.delete(scratch.id)

        trio.run(main)


async def eventually(fetch: Callable[[], Awaitable[_T]], done: Callable[[_T], bool]) -> _T:
    """``fetch()`` until ``done`` holds (the real Graph's delta lags a little), or give up.

    Not a timing assertion: the caller asserts on the value returned, whatever it is.
    """
    value = await fetch()
    for _ in range(20):
        if done(value):
            break
        await trio.sleep(1.5)
        value = await fetch()
    return value


def _live_backend() -> Backend:
    if os.environ.get("ONEMOUNT_LIVE_GRAPH") != "1":
        pytest.skip("live Graph runs only with ONEMOUNT_LIVE_GRAPH=1")
    token = os.environ.get("ONEMOUNT_LIVE_TOKEN")
    if token:
        return Backend("live", "https://graph.microsoft.com/v1.0", StaticToken(token))
    from onemount.auth import Authenticator, AuthError, load_config

    try:
        authenticator = Authenticator(load_config())
    except AuthError as exc:
        pytest.skip(f"live Graph: no credentials ({exc}); set ONEMOUNT_LIVE_TOKEN or sign in")
    if authenticator.status().account is None:
        pytest.skip("live Graph: no account signed in (onemount auth login)")
    return Backend("live", "https://graph.microsoft.com/v1.0", authenticator)


@pytest.fixture(scope="session")
def fake_backend() -> Iterator[Backend]:
    with running_fake() as fake:
        yield Backend("fake", fake.base_url, fake.tokens)


@pytest.fixture(scope="session")
def in_process_backend() -> Iterator[Backend]:
    """The same fake reached through httpx.ASGITransport: no socket, for fast unit tests."""
    with tempfile.TemporaryDirectory(prefix="fakegraph-") as data:
        fake = build(Path(data))
        token = fake.authority.issue_static_token(ttl=24 * 3600)
        yield Backend("in-process", "http://fakegraph.test/v1.0", StaticToken(token), fake.asgi())
        fake.drive.close()


@pytest.fixture(params=["fake", "in-process", pytest.param("live", marks=pytest.mark.live)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "live":
        return _live_backend()
    chosen: Backend = request.getfixturevalue(
        "fake_backend" if request.param == "fake" else "in_process_backend"
    )
    return chosen
