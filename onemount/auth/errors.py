"""The errors the rest of onemount sees from authentication, each naming what to do next."""

from __future__ import annotations


class AuthError(Exception):
    """Base class; the message is safe to show and never contains a token."""


class AuthRequired(AuthError):
    """No token can be had without the user: not signed in, or the refresh token was refused.

    The Graph client maps this to the connectivity machine's AUTH_REQUIRED state and waits
    for ``onemount auth login``; nothing in the mount ever prompts.
    """


class AuthServiceUnreachable(AuthError, ConnectionError):
    """The identity service could not be reached: the same as being offline, not a sign-out."""


class LoginFailed(AuthError):
    """An interactive sign-in ended without tokens (declined, expired code, bad redirect)."""
