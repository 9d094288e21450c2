"""The ``requests`` session msal talks through: a timeout, and an explicitly trusted CA.

msal's own session has no timeout, so a black-holed connection would pin a worker thread for
good. And ``requests`` lets ``REQUESTS_CA_BUNDLE`` in the environment override a session's
``verify`` (psf/requests#3829), so a configured CA bundle is passed per request, where it wins.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

DEFAULT_TIMEOUT = (10.0, 30.0)  # connect, read


class AuthSession(requests.Session):
    """``requests.Session`` with a default timeout and an optional CA bundle to trust."""

    def __init__(self, *, ca_bundle: str | None = None, timeout: Any = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        # One retry on a dropped connection, as msal's own session does.
        adapter = HTTPAdapter(max_retries=1)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        if self._ca_bundle:
            kwargs.setdefault("verify", self._ca_bundle)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
