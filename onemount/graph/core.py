"""The HTTP core: one ``httpx.AsyncClient`` and everything each request passes through.

A request, on every attempt: waits at the global throttle gate, takes a token from the rate
limiter, gets a bearer token (only for Graph's own origin: a link pointing anywhere else never
receives it), is sent, and its answer is classified. Failures become typed errors and the
outcome is reported to the :class:`OutcomeListener`. Retrying is not done here but by the
:class:`Retrier` wrapped around the attempt, so there is exactly one retry loop per operation.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from onemount.auth import errors as auth_errors
from onemount.graph.errors import (
    AuthRequired,
    ErrorInfo,
    GraphError,
    MalformedResponse,
    Throttled,
    classify,
)
from onemount.graph.outcomes import OutcomeListener
from onemount.graph.pacing import RateLimiter, ThrottleGate
from onemount.graph.policy import RetryPolicy, retry_after
from onemount.graph.retry import Attempt, Retrier
from onemount.graph.tokens import TokenProvider

_T = TypeVar("_T")


@dataclass(frozen=True)
class Request:
    """One HTTP request, described as data so that every attempt builds it anew.

    ``url`` is either absolute (a nextLink, an upload URL) or a path below the client's base URL.
    ``auth`` says whether to send the bearer token: never to upload or download URLs, which are
    pre-authenticated and may sit on another host.
    """

    method: str
    url: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    json: Any = None
    auth: bool = True


class Core:
    """Sends single attempts (:meth:`send`, :meth:`stream`) and retried calls (:meth:`call`)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        tokens: TokenProvider,
        listener: OutcomeListener,
        retrier: Retrier,
        limiter: RateLimiter,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self.tokens = tokens
        self.listener = listener
        self.retrier = retrier
        self.limiter = limiter
        self.wall_clock = wall_clock

    @property
    def gate(self) -> ThrottleGate:
        return self.retrier.gate

    def absolute(self, url: str) -> str:
        return urljoin(self.base_url, url.lstrip("/")) if not _origin(url) else url

    # -- single attempts -----------------------------------------------------------------------

    async def send(self, request: Request, attempt: Attempt) -> httpx.Response:
        """One attempt, body read; raises the typed error of a failed answer."""
        async with self.stream(request, attempt) as response:
            await response.aread()
        return response

    @asynccontextmanager
    async def stream(self, request: Request, attempt: Attempt) -> AsyncIterator[httpx.Response]:
        """One attempt with the body left unread, for downloads; closed on exit."""
        await self.gate.wait(attempt.deadline)
        await self.limiter.acquire()
        built = self.http.build_request(
            request.method,
            self.absolute(request.url),
            params=request.params,
            headers=await self._headers(request, attempt),
            content=request.content,
            json=request.json,
        )
        response = await self.http.send(built, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise self._failure(response)
            self.listener.request_ok()
            yield response
        finally:
            await response.aclose()

    async def _headers(self, request: Request, attempt: Attempt) -> dict[str, str]:
        headers = {"client-request-id": str(uuid.uuid4()), **request.headers}
        if request.auth:
            url = self.absolute(request.url)
            if _origin(url) != self._origin:
                # A nextLink or Location from a confused (or hostile) server must not carry
                # the user's token to another host.
                raise MalformedResponse(ErrorInfo(None), f"link leaves the Graph origin: {url}")
            try:
                token = await self.tokens.access_token(force_refresh=attempt.force_refresh)
            except auth_errors.AuthRequired as exc:
                raise AuthRequired(ErrorInfo(None), str(exc)) from exc
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _failure(self, response: httpx.Response) -> GraphError:
        wait = retry_after(response.headers.get("retry-after"), now=self.wall_clock())
        error = classify(response, retry_after=wait)
        if isinstance(error, Throttled):
            if error.retry_after is not None:
                self.gate.pause(error.retry_after)
                self.listener.throttled(error.retry_after)
        elif response.status_code != 401:
            self.listener.request_ok()  # the service answered: whatever it said, it is there
        return error

    # -- retried operations ----------------------------------------------------------------------

    async def retry(
        self,
        attempt: Callable[[Attempt], Awaitable[_T]],
        *,
        progress: Callable[[], int] | None = None,
        policy: RetryPolicy | None = None,
    ) -> _T:
        return await self.retrier.run(attempt, progress=progress, policy=policy)

    async def call(self, build: Callable[[], Request]) -> httpx.Response:
        """Send the request ``build`` makes, retried under the policy; body read."""
        return await self.retry(lambda attempt: self.send(build(), attempt))

    async def call_json(self, build: Callable[[], Request]) -> Any:
        """:meth:`call`, decoding the JSON body; a non-JSON body is a MalformedResponse."""
        return json_body(await self.call(build))


def json_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as exc:
        info = ErrorInfo(response.status_code, (), "", response.headers.get("request-id"))
        raise MalformedResponse(info, f"body is not JSON: {exc}") from exc


def _origin(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return parts.scheme.lower(), parts.netloc.lower()
