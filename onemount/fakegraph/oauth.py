"""A stand-in for the Microsoft identity platform, enough for msal to sign in against it.

It is the only part of the sign-in path that is fake: msal runs unmodified against these routes
over a real socket, so the device-code poll loop, the PKCE exchange, the refresh-token rotation
and the token cache are all exercised for real. State is guarded by one lock, because the server
runs in its own thread while tests call the hooks from theirs.

Access and refresh tokens live as long as the service says they do, not as long as the process:
given a ``store`` (``tokens.json`` beside the drive, mode 0600) they are written there on every
change and read back at start, so a signed-in client, and one configured with the token
``fakegraph serve`` printed, keeps working when the fake restarts. Device codes and
authorization codes are minutes-long and stay in memory.

``/authorize`` takes two kinds of redirect, as the identity platform does for a public client:
a loopback one (``http://localhost:port``), which must come with PKCE (S256), and the registered
native-client page ``https://login.microsoftonline.com/common/oauth2/nativeclient``, where PKCE
is optional (clients written before PKCE send none); the page itself is served empty,
as the real one is, for a user or a client to read the code from its URL.

msal refuses non-https authorities and checks nothing in the id_token, so the fake is served
over TLS (a self-signed certificate in tests) and its id_tokens are unsigned JWTs.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from onemount.fakegraph.origin import public_origin

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
NATIVE_CLIENT_REDIRECT = "https://login.microsoftonline.com/common/oauth2/nativeclient"


@dataclass(frozen=True)
class FakeUser:
    """The one account the fake signs in; ids are fixed so a test can assert on them."""

    name: str = "Fake User"
    username: str = "fake.user@example.com"
    oid: str = "00000000-0000-0000-0000-0000000000aa"
    tid: str = "9188040d-6c67-4c5b-b112-36a304b66dad"


@dataclass
class _DeviceCode:
    user_code: str
    scope: str
    expires_at: float
    approved: bool = False


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str
    challenge: str | None  # None: a native-client redirect without PKCE
    scope: str
    nonce: str | None


@dataclass
class _State:
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    refresh: dict[str, str] = field(default_factory=dict)  # token -> scope
    serving: str | None = None  # the token ``fakegraph serve`` prints
    devices: dict[str, _DeviceCode] = field(default_factory=dict)  # device_code -> state
    codes: dict[str, _AuthCode] = field(default_factory=dict)  # authorization code -> request
    issued: list[str] = field(default_factory=list)  # every token ever handed out


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


class FakeAuthority:
    """Token issuer and checker for the fake Graph server.

    Knobs: ``access_ttl`` (seconds an access token lives), ``device_code_ttl``,
    ``poll_interval`` (what the device-code response tells msal to wait between polls),
    and ``rotate_refresh_tokens`` (a refresh grant invalidates the refresh token it used).
    ``store`` keeps the tokens across restarts; ``public_url`` is the origin written into
    the discovery document and the device-code page (:mod:`.origin`). The authorize endpoint
    approves at once, as if the user had signed in and clicked "Accept": the login page is
    the one part of the flow no test needs to exercise.
    """

    def __init__(
        self,
        *,
        access_ttl: float = 3600.0,
        device_code_ttl: float = 900.0,
        poll_interval: int = 1,
        rotate_refresh_tokens: bool = True,
        user: FakeUser | None = None,
        store: Path | None = None,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access_ttl = access_ttl
        self.device_code_ttl = device_code_ttl
        self.poll_interval = poll_interval
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.user = user or FakeUser()
        self.public_url = public_url
        self._clock = clock  # wall-clock: expiries outlive the process in ``store``
        self._store = store
        self._lock = threading.Lock()
        self._state = _State()
        if store is not None and store.exists():
            self._load(store)
        self.routes: list[BaseRoute] = [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery),
            Route("/{tenant}/oauth2/v2.0/devicecode", self._devicecode, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self._authorize, methods=["GET"]),
            Route("/{tenant}/oauth2/nativeclient", self._native_client_page, methods=["GET"]),
        ]

    # -- used by the fake Graph server -------------------------------------------------------

    def check_bearer(self, authorization: str | None) -> bool:
        """True for ``Bearer <token>`` naming an access token this authority issued and that
        has not expired. The scheme is case-insensitive, as Graph accepts ``bearer`` too."""
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expiry = self._state.access.get(token.strip())
        return expiry is not None and expiry > self._clock()

    def issue_static_token(self, ttl: float | None = None) -> str:
        """An access token without any sign-in, for tests that only exercise Graph calls."""
        with self._lock:
            token = self._new_access(ttl)
            self._save()
            return token

    def serving_token(self, ttl: float) -> str:
        """The token ``fakegraph serve`` prints: the one it printed last time while that has
        more than half of ``ttl`` to live, so whatever was configured with it keeps working
        across a restart; a fresh one otherwise (the old one lives out its time)."""
        with self._lock:
            current = self._state.serving
            if current is not None and self._state.access.get(current, 0.0) > (
                self._clock() + ttl / 2
            ):
                return current
            token = self._new_access(ttl)
            self._state.serving = token
            self._save()
            return token

    # -- test hooks ---------------------------------------------------------------------------

    def approve_device_code(self, user_code: str) -> None:
        """What the user does on the verification page: the next poll gets tokens."""
        with self._lock:
            for device in self._state.devices.values():
                if device.user_code == user_code:
                    device.approved = True
                    return
        raise KeyError(user_code)

    def pending_user_codes(self) -> list[str]:
        """User codes shown to a user but not yet approved (lets a test play the user)."""
        with self._lock:
            return [d.user_code for d in self._state.devices.values() if not d.approved]

    def expire_access_tokens(self) -> None:
        """Every issued access token is now expired: Graph calls get 401 until a refresh."""
        with self._lock:
            self._state.access = dict.fromkeys(self._state.access, 0.0)
            self._save()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token is now unknown: the next refresh gets ``invalid_grant``."""
        with self._lock:
            self._state.refresh.clear()
            self._save()

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token ever handed out (for the log-leak test)."""
        with self._lock:
            return list(self._state.issued)

    # -- endpoints ----------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        base = f"{public_origin(request, self.public_url)}/{request.path_params['tenant']}"
        return JSONResponse(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_CODE_GRANT],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _devicecode(self, request: Request) -> Response:
        form = await _form(request)
        if not form.get("client_id"):
            return _error("invalid_request", "client_id is required")
        device_code = secrets.token_urlsafe(32)
        user_code = secrets.token_hex(4).upper()
        with self._lock:
            self._state.devices[device_code] = _DeviceCode(
                user_code, form.get("scope", ""), self._clock() + self.device_code_ttl
            )
        verification_uri = f"{public_origin(request, self.public_url)}/devicelogin"
        return JSONResponse(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "expires_in": int(self.device_code_ttl),
                "interval": self.poll_interval,
                "message": f"To sign in, open {verification_uri} and enter the code {user_code}.",
            }
        )

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect_uri = query.get("redirect_uri", "")
        native = self._is_native_client(redirect_uri, request)
        if not native and not redirect_uri.startswith(("http://localhost", "http://127.0.0.1")):
            return _error(
                "invalid_request", "redirect_uri must be a loopback address or the nativeclient"
            )
        challenge = query.get("code_challenge") or None
        if (challenge or not native) and (
            query.get("code_challenge_method") != "S256" or not challenge
        ):
            return _error("invalid_request", "PKCE with S256 is required for this redirect_uri")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._state.codes[code] = _AuthCode(
                query.get("client_id", ""),
                redirect_uri,
                challenge,
                query.get("scope", ""),
                query.get("nonce"),
            )
        params = {"code": code, "state": query.get("state", "")}
        if query.get("response_mode") == "form_post":
            return HTMLResponse(_form_post_page(redirect_uri, params))
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

    def _is_native_client(self, redirect_uri: str, request: Request) -> bool:
        """The registered native-client page, on the real host or on this fake's own."""
        parts = urlsplit(redirect_uri)
        own = urlsplit(public_origin(request, self.public_url)).netloc
        return (
            parts.scheme == "https"
            and parts.netloc in ("login.microsoftonline.com", own)
            and parts.path == urlsplit(NATIVE_CLIENT_REDIRECT).path
        )

    async def _native_client_page(self, request: Request) -> Response:
        """Where a native-client sign-in lands: a blank page; the code is in its URL."""
        return HTMLResponse("<html><body></body></html>")

    async def _token(self, request: Request) -> Response:
        form = await _form(request)
        client_id = form.get("client_id", "")
        if form.get("client_secret"):
            return _error("invalid_client", "public clients must not send a secret", 401)
        grant = form.get("grant_type")
        with self._lock:
            if grant == DEVICE_CODE_GRANT:
                return self._device_grant(form.get("device_code", ""), client_id)
            if grant == "refresh_token":
                return self._refresh_grant(form.get("refresh_token", ""), client_id)
            if grant == "authorization_code":
                return self._code_grant(form, client_id)
        return _error("unsupported_grant_type", f"grant_type {grant!r} is not supported")

    # -- grants (called with the lock held) ---------------------------------------------------

    def _device_grant(self, device_code: str, client_id: str) -> Response:
        device = self._state.devices.get(device_code)
        if device is None:
            return _error("bad_verification_code", "unknown device_code")
        if device.expires_at <= self._clock():
            del self._state.devices[device_code]
            return _error("expired_token", "the device code has expired")
        if not device.approved:
            return _error("authorization_pending", "the user has not yet signed in")
        del self._state.devices[device_code]
        return self._tokens(device.scope, client_id, nonce=None)

    def _refresh_grant(self, refresh_token: str, client_id: str) -> Response:
        scope = self._state.refresh.get(refresh_token)
        if scope is None:
            return _error("invalid_grant", "AADSTS70000: the refresh token is not valid")
        if self.rotate_refresh_tokens:
            del self._state.refresh[refresh_token]
        return self._tokens(scope, client_id, nonce=None)  # saves the rotation too

    def _code_grant(self, form: dict[str, str], client_id: str) -> Response:
        pending = self._state.codes.pop(form.get("code", ""), None)
        if pending is None:
            return _error("invalid_grant", "unknown or already used authorization code")
        verifier = form.get("code_verifier", "")
        if pending.challenge is not None and (
            _b64url(hashlib.sha256(verifier.encode()).digest()) != pending.challenge
        ):
            return _error("invalid_grant", "code_verifier does not match code_challenge")
        if pending.redirect_uri != form.get("redirect_uri") or pending.client_id != client_id:
            return _error("invalid_grant", "redirect_uri or client_id differs from authorize")
        return self._tokens(pending.scope, client_id, nonce=pending.nonce)

    def _new_access(self, ttl: float | None) -> str:
        token = secrets.token_urlsafe(32)
        self._state.access[token] = self._clock() + (self.access_ttl if ttl is None else ttl)
        self._state.issued.append(token)
        return token

    def _tokens(self, scope: str, client_id: str, *, nonce: str | None) -> Response:
        refresh = secrets.token_urlsafe(48)
        self._state.refresh[refresh] = scope
        self._state.issued.append(refresh)
        access = self._new_access(None)
        self._save()
        return JSONResponse(
            {
                "token_type": "Bearer",
                "scope": scope,
                "expires_in": int(self.access_ttl),
                "access_token": access,
                "refresh_token": refresh,
                "id_token": self._id_token(client_id, nonce),
                "client_info": _b64url(
                    json.dumps({"uid": self.user.oid, "utid": self.user.tid}).encode()
                ),
            }
        )

    # -- persistence (called with the lock held, or before the server starts) ----------------

    def _load(self, store: Path) -> None:
        try:
            data: Any = json.loads(store.read_text())
            access = {str(k): float(v) for k, v in data["access"].items()}
            refresh = {str(k): str(v) for k, v in data["refresh"].items()}
            serving = data.get("serving")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"{store} is not the fake's token file ({exc}); remove it to start afresh"
            ) from None
        self._state.access, self._state.refresh = access, refresh
        self._state.serving = serving if isinstance(serving, str) else None

    def _save(self) -> None:
        """Write the live tokens (expired ones are dropped) to ``store``, readable by the
        owner alone, replacing the old file at once so a crash leaves one or the other."""
        if self._store is None:
            return
        now = self._clock()
        live = {token: expiry for token, expiry in self._state.access.items() if expiry > now}
        data = {"access": live, "refresh": self._state.refresh, "serving": self._state.serving}
        partial = self._store.with_name(self._store.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(partial, self._store)

    def _id_token(self, client_id: str, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": f"https://login.fake/{self.user.tid}/v2.0",
            "aud": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": self.user.oid,
            "oid": self.user.oid,
            "tid": self.user.tid,
            "name": self.user.name,
            "preferred_username": self.user.username,
        }
        if nonce:
            claims["nonce"] = nonce
        header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64url(json.dumps(claims).encode())}."


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded body, parsed without python-multipart (not a dependency)."""
    parsed = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def _form_post_page(action: str, fields: dict[str, str]) -> str:
    """What Entra returns for ``response_mode=form_post``: a self-submitting form."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
        for k, v in fields.items()
    )
    return (
        '<html><body onload="document.forms[0].submit()">'
        f'<form method="post" action="{html.escape(action)}">{inputs}</form></body></html>'
    )
