"""A stand-in for the Microsoft identity platform, enough for msal to sign in against it.

It is the only part of the sign-in path that is fake: msal runs unmodified against these routes
over a real socket, so the device-code poll loop, the PKCE exchange, the refresh-token rotation
and the token cache are all exercised for real. State is in memory and guarded by one lock,
because the server runs in its own thread while tests call the hooks from theirs.

msal refuses non-https authorities and checks nothing in the id_token, so the fake is served
over TLS (a self-signed certificate in tests) and its id_tokens are unsigned JWTs.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


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
    challenge: str
    scope: str
    nonce: str | None


@dataclass
class _State:
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    refresh: dict[str, str] = field(default_factory=dict)  # token -> scope
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
    The authorize endpoint approves at once, as if the user had signed in and clicked
    "Accept": the login page is the one part of the flow no test needs to exercise.
    """

    def __init__(
        self,
        *,
        access_ttl: float = 3600.0,
        device_code_ttl: float = 900.0,
        poll_interval: int = 1,
        rotate_refresh_tokens: bool = True,
        user: FakeUser | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access_ttl = access_ttl
        self.device_code_ttl = device_code_ttl
        self.poll_interval = poll_interval
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.user = user or FakeUser()
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _State()
        self.routes: list[BaseRoute] = [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery),
            Route("/{tenant}/oauth2/v2.0/devicecode", self._devicecode, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self._authorize, methods=["GET"]),
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
            return self._new_access(ttl)

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
            self._state.access = dict.fromkeys(self._state.access, float("-inf"))

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token is now unknown: the next refresh gets ``invalid_grant``."""
        with self._lock:
            self._state.refresh.clear()

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token ever handed out (for the log-leak test)."""
        with self._lock:
            return list(self._state.issued)

    # -- endpoints ----------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        base = f"{request.base_url}{request.path_params['tenant']}"
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
        verification_uri = f"{request.base_url}devicelogin"
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
        if not redirect_uri.startswith(("http://localhost", "http://127.0.0.1")):
            return _error("invalid_request", "redirect_uri must be a loopback address")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return _error("invalid_request", "PKCE with S256 is required for public clients")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._state.codes[code] = _AuthCode(
                query.get("client_id", ""),
                redirect_uri,
                query["code_challenge"],
                query.get("scope", ""),
                query.get("nonce"),
            )
        params = {"code": code, "state": query.get("state", "")}
        if query.get("response_mode") == "form_post":
            return HTMLResponse(_form_post_page(redirect_uri, params))
        return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)

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
        return self._tokens(scope, client_id, nonce=None)

    def _code_grant(self, form: dict[str, str], client_id: str) -> Response:
        pending = self._state.codes.pop(form.get("code", ""), None)
        if pending is None:
            return _error("invalid_grant", "unknown or already used authorization code")
        verifier = form.get("code_verifier", "")
        if _b64url(hashlib.sha256(verifier.encode()).digest()) != pending.challenge:
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
        return JSONResponse(
            {
                "token_type": "Bearer",
                "scope": scope,
                "expires_in": int(self.access_ttl),
                "access_token": self._new_access(None),
                "refresh_token": refresh,
                "id_token": self._id_token(client_id, nonce),
                "client_info": _b64url(
                    json.dumps({"uid": self.user.oid, "utid": self.user.tid}).encode()
                ),
            }
        )

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
