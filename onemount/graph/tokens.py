"""Where the client gets its bearer token: a one-method protocol, and a fixed token for tests.

The protocol is declared here so the Graph layer depends on a shape, not on the msal-backed
``onemount.auth.Authenticator`` (which satisfies it). A provider raises
``onemount.auth.AuthRequired`` when no token can be had without the user; the client turns that
into its own :class:`~onemount.graph.errors.AuthRequired` and reports it, never prompting.
"""

from __future__ import annotations

from typing import Protocol


class TokenProvider(Protocol):
    """A bearer token for Graph; ``force_refresh`` after the server refused the cached one."""

    async def access_token(self, *, force_refresh: bool = False) -> str: ...


class StaticToken:
    """Always the same token: for the fake (which accepts any configured token) and demos."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self, *, force_refresh: bool = False) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"  # a token never reaches a log, even through repr
