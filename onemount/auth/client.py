"""Sign-in and silent token refresh through msal, driven from trio.

msal is synchronous and talks through ``requests``, so every msal call that may touch the
network runs in a worker thread (``trio.to_thread.run_sync``), and so does every touch of the
token store: a save is a write, two fsyncs and a rename, a reload a stat and maybe a read (a
keyring, D-Bus calls), none of which may stall trio's thread and every request behind it. An
msal call and the save of what it changed run in the same worker thread, one hop. The
device-code poll loop is ours, not msal's: each poll is one non-blocking msal call and the wait
between polls is a ``trio.sleep``, so a cancel scope ends a sign-in at once instead of after
msal's own loop.

Only interactive sign-in ever involves the user. ``access_token`` never prompts: when msal
cannot produce a token silently it raises ``AuthRequired`` and the caller decides.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import msal
import requests
import trio

from onemount.auth import loopback
from onemount.auth.cache import TokenStore, open_token_store
from onemount.auth.config import AuthConfig
from onemount.auth.errors import AuthError, AuthRequired, AuthServiceUnreachable, LoginFailed
from onemount.auth.transport import AuthSession

_PENDING = frozenset({"authorization_pending", "slow_down"})


class TokenProvider(Protocol):
    """What the Graph client needs: a bearer token, refreshed when asked to (after a 401)."""

    async def access_token(self, *, force_refresh: bool = False) -> str: ...


@dataclass(frozen=True)
class Account:
    """Who is signed in, as ``auth status`` shows it."""

    username: str
    name: str | None


@dataclass(frozen=True)
class AuthStatus:
    """A read of the cache at rest: no network, so ``auth status`` works offline."""

    account: Account | None
    access_token_expires_at: float | None  # epoch seconds, None if no access token is cached
    location: str


class Authenticator:
    """One msal public client plus its persisted cache; also the Graph client's TokenProvider.

    ``store`` defaults to the keyring-or-file store of ``config``, opened on first use in a
    worker thread (opening reads the file, or asks the keyring), so that building an
    Authenticator under trio costs nothing. The msal application is built on first use, in a
    thread too, because building it fetches the authority's OpenID configuration.
    """

    def __init__(self, config: AuthConfig, store: TokenStore | None = None) -> None:
        self.config = config
        self._store = store
        self._app: msal.PublicClientApplication | None = None
        # One refresh at a time: with rotating refresh tokens, two concurrent refreshes would
        # race to spend the same token and the loser would look signed out.
        self._lock = trio.Lock()

    # -- the TokenProvider -----------------------------------------------------------------

    async def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid access token from the cache or a silent refresh; never prompts.

        Raises ``AuthRequired`` when no account is cached or the refresh token is refused,
        ``AuthServiceUnreachable`` when the identity service cannot be reached.
        """
        async with self._lock:
            app = await self._application()
            result = await self._call(self._silent, app, force_refresh=force_refresh)
        if not result or "access_token" not in result:
            error = (result or {}).get("error", "no refresh token")
            raise AuthRequired(f"sign-in needed again ({error}): run `onemount auth login`")
        token: str = result["access_token"]
        return token

    def _silent(
        self, app: msal.PublicClientApplication, *, force_refresh: bool
    ) -> dict[str, Any] | None:
        """The silent acquisition, in a worker thread: reload, find the account, ask msal."""
        self._opened_store().reload_if_changed()  # a login in another process takes effect
        accounts = app.get_accounts()
        if not accounts:
            raise AuthRequired("not signed in: run `onemount auth login`")
        result: dict[str, Any] | None = app.acquire_token_silent_with_error(
            list(self.config.scopes), account=accounts[0], force_refresh=force_refresh
        )
        return result

    # -- interactive sign-in -----------------------------------------------------------------

    async def login_device_code(self, show: Callable[[str], None]) -> Account:
        """Device-code sign-in: ``show`` gets the message with the URL and the code to enter."""
        async with self._lock:
            app = await self._application()
            flow = await self._call(app.initiate_device_flow, scopes=list(self.config.scopes))
            if "user_code" not in flow:
                raise LoginFailed(f"device code refused: {_describe(flow)}")
            show(str(flow["message"]))
            while True:
                # exit_condition=True makes msal poll exactly once; the wait is ours.
                result = await self._call(
                    app.acquire_token_by_device_flow, flow, exit_condition=lambda _flow: True
                )
                if result.get("error") not in _PENDING:
                    break
                if time.time() > flow["expires_at"]:
                    raise LoginFailed("the device code expired before sign-in finished")
                await trio.sleep(flow.get("interval", 5))
            return self._finish_login(result)

    async def login_browser(self, open_url: Callable[[str], Awaitable[None]]) -> Account:
        """Browser sign-in: auth code with PKCE, posted back to a loopback listener we run.

        ``open_url`` shows the sign-in page (the CLI opens a browser and prints the URL; tests
        follow it with an HTTP client). It runs concurrently with the listener.
        """
        async with self._lock:
            app = await self._application()
            listener = await loopback.open_listener()
            async with listener:
                redirect = f"http://localhost:{loopback.listener_port(listener)}"
                flow = app.initiate_auth_code_flow(
                    list(self.config.scopes), redirect_uri=redirect, response_mode="form_post"
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(open_url, flow["auth_uri"])
                    params = await loopback.receive_redirect(listener)
            try:
                result = await self._call(app.acquire_token_by_auth_code_flow, flow, params)
            except ValueError as exc:  # msal's verdict on a state mismatch (a forged response)
                raise LoginFailed(f"sign-in response rejected: {exc}") from exc
            return self._finish_login(result)

    # -- sign-out and status -----------------------------------------------------------------

    async def logout(self) -> None:
        """Forget every cached token and account, at rest too. Local only: Microsoft's
        sessions in a browser are the browser's business."""
        async with self._lock:
            await trio.to_thread.run_sync(lambda: self._opened_store().clear())

    def status(self) -> AuthStatus:
        """Who is signed in, read from the cache at rest.

        Blocking (it may read the file): for the CLI and other callers outside trio; under
        trio, call it through ``trio.to_thread.run_sync``.
        """
        return cache_status(self._opened_store())

    # -- plumbing ----------------------------------------------------------------------------

    def _finish_login(self, result: dict[str, Any]) -> Account:
        # What msal cached is already on disk: _call saved it in the same worker thread.
        if "access_token" not in result:
            raise LoginFailed(f"sign-in failed: {_describe(result)}")
        claims = result.get("id_token_claims", {})
        return Account(str(claims.get("preferred_username", "")), claims.get("name"))

    async def _application(self) -> msal.PublicClientApplication:
        if self._app is None:
            try:
                self._app = await self._call(self._build)
            except ValueError as exc:  # msal's word for "not an authority it can use"
                raise AuthError(f"authority {self.config.authority} rejected: {exc}") from exc
        return self._app

    def _build(self) -> msal.PublicClientApplication:
        """The msal application over the store's cache, in a worker thread (both do I/O)."""
        return msal.PublicClientApplication(
            self.config.client_id,
            authority=self.config.authority,
            token_cache=self._opened_store().cache,
            http_client=AuthSession(ca_bundle=self.config.ca_bundle),
            # Instance discovery asks login.microsoftonline.com whether the authority is
            # known; a national cloud or the test authority is known to us instead.
            instance_discovery=False,
        )

    def _opened_store(self) -> TokenStore:
        """The store, opened now if it was not yet. Blocking: a worker thread's call.

        Async callers reach it only under ``self._lock``, so it is opened once.
        """
        if self._store is None:
            self._store = open_token_store(
                self.config.cache_path, use_keyring=self.config.use_keyring
            )
        return self._store

    async def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking msal call in a worker thread, then, in the same thread, persist the
        cache if the call changed it (a refresh rotates the refresh token: it must reach the
        disk even when the call then fails)."""
        try:
            return await trio.to_thread.run_sync(partial(self._then_save, func, args, kwargs))
        except requests.exceptions.RequestException as exc:
            raise AuthServiceUnreachable(f"identity service unreachable: {exc}") from exc

    def _then_save(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            return func(*args, **kwargs)
        finally:
            self._opened_store().save()


def cache_status(store: TokenStore) -> AuthStatus:
    """Who the cache belongs to and when its access token expires, read without network.

    Blocking: it first adopts what another process wrote (``reload_if_changed``).
    """
    store.reload_if_changed()
    kinds = msal.TokenCache.CredentialType
    accounts = list(store.cache.search(kinds.ACCOUNT))
    account = None
    if accounts:
        claims = _id_claims(store.cache)
        account = Account(str(accounts[0].get("username", "")), claims.get("name"))
    expiries = [int(at["expires_on"]) for at in store.cache.search(kinds.ACCESS_TOKEN)]
    return AuthStatus(account, max(expiries) if expiries else None, store.location)


def _describe(result: dict[str, Any]) -> str:
    """An msal error result as one line; error fields never carry tokens."""
    return f"{result.get('error', 'unknown error')}: {result.get('error_description', '')}".strip()


def _id_claims(cache: msal.SerializableTokenCache) -> dict[str, Any]:
    """Claims of the cached id_token, which msal stores unverified as it received it."""
    for entry in cache.search(msal.TokenCache.CredentialType.ID_TOKEN):
        payload = str(entry.get("secret", "")).split(".")
        if len(payload) >= 2:
            padded = payload[1] + "=" * (-len(payload[1]) % 4)
            try:
                claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
                return claims
            except ValueError:
                continue
    return {}
