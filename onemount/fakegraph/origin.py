"""The origin (``scheme://host``) the fake writes into the links it hands out.

Download URLs, upload URLs, ``@odata.nextLink``/``deltaLink``, the 410's ``Location``, the
notification URL and the identity platform's discovery document are absolute URLs, and a client
follows them as they are. Behind a TLS proxy the fake itself speaks plain HTTP, so its own view
(``http://graph.microsoft.com``) would send every transfer to the wrong scheme. The proxy says
what the client used in ``X-Forwarded-Proto`` and ``X-Forwarded-Host``; an explicit
``--public-url`` overrides everything.
"""

from __future__ import annotations

from starlette.requests import Request


def public_origin(request: Request, public_url: str | None) -> str:
    """``public_url`` if set, else the forwarded scheme and host, else the request's own."""
    if public_url:
        return public_url.rstrip("/")
    headers = request.headers
    proto, host = headers.get("x-forwarded-proto"), headers.get("x-forwarded-host")
    if proto is None and host is None:
        return str(request.base_url).rstrip("/")
    # A chain of proxies appends to the lists; the first entry is the client's side.
    scheme = _first(proto) or request.url.scheme
    netloc = _first(host) or headers.get("host") or request.url.netloc
    return f"{scheme}://{netloc}"


def _first(value: str | None) -> str:
    return (value or "").split(",", 1)[0].strip()
