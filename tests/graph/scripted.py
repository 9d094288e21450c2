"""A scripted ASGI app: answers requests from a list and records what it was sent.

For the retry-policy tests, which need exact control of each answer (a 503, then a 429 with a
given Retry-After, then a 200) and exact timestamps under ``trio.testing.MockClock``. It is a
real ASGI application served through ``httpx.ASGITransport``; the behaviours of Graph itself are
tested against the fake (``onemount.fakegraph``) instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from onemount.graph import GraphClient, GraphConfig, RetryPolicy, StaticToken
from onemount.graph.outcomes import OutcomeListener

BASE = "http://graph.test/v1.0"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None  # sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is, instead of ``body``


@dataclass(frozen=True)
class Seen:
    at: float  # trio time
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    raw_path: str  # as sent, percent-encoded
    query: str


class ScriptedApp:
    def __init__(self, *answers: Answer | Callable[[Seen], Answer]) -> None:
        self.answers = list(answers)
        self.seen: list[Seen] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        seen = Seen(
            trio.current_time(),
            scope["method"],
            scope["path"],
            headers,
            body,
            scope["raw_path"].decode(),
            scope["query_string"].decode(),
        )
        self.seen.append(seen)
        answer = self.answers.pop(0)
        if callable(answer):
            answer = answer(seen)
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in answer.headers.items()]
        if answer.raw is not None:
            payload = answer.raw
        else:
            payload = b"" if answer.body is None else json.dumps(answer.body).encode()
            raw_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": payload})

    @property
    def times(self) -> list[float]:
        return [s.at for s in self.seen]


class Recorder:
    """An OutcomeListener that writes down every report."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def request_ok(self) -> None:
        self.events.append("ok")

    def throttled(self, retry_after: float) -> None:
        self.events.append(f"throttled {retry_after:g}")

    def network_error(self) -> None:
        self.events.append("network")

    def auth_failed(self) -> None:
        self.events.append("auth")


def client_for(
    app: ScriptedApp,
    *,
    policy: RetryPolicy | None = None,
    listener: OutcomeListener | None = None,
    tokens: Any = None,
    draw: float = 0.5,
    wall_clock: Callable[[], float] = lambda: 1_000_000.0,
    rate: float = float("inf"),
    **config_fields: Any,
) -> GraphClient:
    config = GraphConfig(base_url=BASE, policy=policy or RetryPolicy(), rate=rate, **config_fields)
    return GraphClient(
        tokens or StaticToken("t0k3n"),
        config,
        transport=httpx.ASGITransport(app=app),
        listener=listener,
        draw=lambda: draw,
        wall_clock=wall_clock,
    )
