"""Authentication against the Microsoft identity platform (msal public client, no secret).

``Authenticator`` signs in (device code, or browser with a loopback redirect), keeps msal's
token cache in the keyring or a 0600 file, and is the Graph client's ``TokenProvider``.
"""

from onemount.auth.client import Account, Authenticator, AuthStatus, TokenProvider
from onemount.auth.config import AuthConfig, load_config
from onemount.auth.errors import AuthError, AuthRequired, AuthServiceUnreachable, LoginFailed
from onemount.auth.redact import TokenRedactor

__all__ = [
    "Account",
    "AuthConfig",
    "AuthError",
    "AuthRequired",
    "AuthServiceUnreachable",
    "AuthStatus",
    "Authenticator",
    "LoginFailed",
    "TokenProvider",
    "TokenRedactor",
    "load_config",
]
