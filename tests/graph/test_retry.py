"""The retry loop, timed exactly under trio's MockClock against a scripted ASGI app.

Each test scripts the answers and checks the instants at which the client came back: the
backoff is computed from a fixed jitter draw (0.5), so every instant is known in advance.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import trio
import trio.testing

from onemount.auth.errors import AuthRequired as AuthAuthRequired
from onemount.graph import (
    AuthRequired,
    GraphClient,
    GraphConfig,
    NameConflict,
    Offline,
    RetryPolicy,
    ServerError,
    StaticToken,
    Throttled,
)
from onemount.graph.core import Request
from tests.graph.scripted import Answer, Recorder, ScriptedApp, client_for

DRIVE = {"id": "d1", "driveType": "personal", "quota": {"total": 10, "used": 1}}


def run_mocked(main: Callable[[], Awaitable[None]]) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_backoff_waits_follow_the_policy_exactly() -> None:
    app = ScriptedApp(Answer(500), Answer(502), Answer(504), Answer(200, DRIVE))
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=3.0)

    async def main() -> None:
        async with client_for(app, policy=policy) as graph:
            drive = await graph.drive()
        assert drive.id == "d1"

    run_mocked(main)
    t = app.times
    # full jitter with draw 0.5: half of min(cap, base * 2**(n-1)) -> 0.5, 1.0, 1.5 (capped)
    assert [b - a for a, b in itertools.pairwise(t)] == [0.5, 1.0, 1.5]


def test_retry_after_seconds_is_honoured_and_reported() -> None:
    app = ScriptedApp(
        Answer(429, {"error": {"code": "activityLimitReached"}}, {"Retry-After": "7"}),
        Answer(503, None, {"Retry-After": "2"}),
        Answer(200, DRIVE),
    )
    recorder = Recorder()

    async def main() -> None:
        async with client_for(app, listener=recorder) as graph:
            await graph.drive()

    run_mocked(main)
    t = app.times
    assert [b - a for a, b in itertools.pairwise(t)] == [7.0, 2.0]
    assert recorder.events == ["throttled 7", "throttled 2", "ok"]


def test_retry_after_http_date_is_read_against_the_wall_clock() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    app = ScriptedApp(Answer(503, None, {"Retry-After": later}), Answer(200, DRIVE))

    async def main() -> None:
        async with client_for(app, wall_clock=now.timestamp) as graph:
            await graph.drive()

    run_mocked(main)
    assert app.times[1] - app.times[0] == 30.0


def test_429_without_retry_after_backs_off() -> None:
    app = ScriptedApp(Answer(429), Answer(200, DRIVE))

    async def main() -> None:
        async with client_for(app, policy=RetryPolicy(backoff_base=4.0)) as graph:
            await graph.drive()

    run_mocked(main)
    assert app.times[1] - app.times[0] == 2.0


def test_attempts_are_bounded() -> None:
    app = ScriptedApp(*[Answer(500)] * 3)

    async def main() -> None:
        async with client_for(app, policy=RetryPolicy(max_attempts=3)) as graph:
            with pytest.raises(ServerError) as caught:
                await graph.drive()
        assert caught.value.status == 500

    run_mocked(main)
    assert len(app.seen) == 3


def test_a_pause_longer_than_the_operation_may_wait_fails_at_once() -> None:
    app = ScriptedApp(Answer(429, None, {"Retry-After": "3600"}))
    recorder = Recorder()

    async def main() -> None:
        async with client_for(app, policy=RetryPolicy(max_total=60), listener=recorder) as graph:
            start = trio.current_time()
            with pytest.raises(Throttled) as caught:
                await graph.drive()
            assert trio.current_time() == start  # gave up without sleeping
            assert caught.value.retry_after == 3600
            # Every other request now waits out the same pause, or fails fast likewise.
            with pytest.raises(Throttled):
                await graph.drive()

    run_mocked(main)
    assert len(app.seen) == 1
    assert recorder.events == ["throttled 3600"]


def test_a_throttle_pauses_every_request_of_the_client() -> None:
    def answer(seen: object) -> Answer:
        return Answer(200, DRIVE)

    app = ScriptedApp(Answer(429, None, {"Retry-After": "5"}), answer, answer, answer)

    async def main() -> None:
        async with client_for(app) as graph, trio.open_nursery() as nursery:
            nursery.start_soon(graph.drive)
            await trio.sleep(1)  # the first request has been throttled by now
            nursery.start_soon(graph.drive)
            nursery.start_soon(graph.drive)

    run_mocked(main)
    assert app.times == [0.0, 5.0, 5.0, 5.0]


def test_the_body_is_rebuilt_for_every_attempt() -> None:
    folder = {"id": "f1", "name": "New", "folder": {"childCount": 0}}
    app = ScriptedApp(Answer(503), Answer(500), Answer(201, folder))

    async def main() -> None:
        async with client_for(app) as graph:
            item = await graph.create_folder("root-id", "New")
        assert item.id == "f1" and item.is_folder

    run_mocked(main)
    bodies = [s.body for s in app.seen]
    assert len(bodies) == 3 and bodies[0] and bodies.count(bodies[0]) == 3  # L18: never empty


class CountingTokens:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    async def access_token(self, *, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        return "fresh" if force_refresh else "stale"


def test_a_401_is_replayed_once_with_a_refreshed_token() -> None:
    app = ScriptedApp(
        Answer(401, {"error": {"code": "InvalidAuthenticationToken"}}), Answer(200, DRIVE)
    )
    tokens = CountingTokens()

    async def main() -> None:
        async with client_for(app, tokens=tokens) as graph:
            await graph.drive()

    run_mocked(main)
    assert tokens.calls == [False, True]
    assert [s.headers["authorization"] for s in app.seen] == ["Bearer stale", "Bearer fresh"]


def test_a_second_401_is_auth_required_and_reported() -> None:
    app = ScriptedApp(Answer(401), Answer(401))
    recorder = Recorder()

    async def main() -> None:
        async with client_for(app, tokens=CountingTokens(), listener=recorder) as graph:
            with pytest.raises(AuthRequired) as caught:
                await graph.drive()
        # One except clause catches it whichever layer raised it.
        assert isinstance(caught.value, AuthAuthRequired)

    run_mocked(main)
    assert len(app.seen) == 2
    assert recorder.events == ["auth"]


class SignedOut:
    async def access_token(self, *, force_refresh: bool = False) -> str:
        raise AuthAuthRequired("not signed in")


def test_a_provider_without_a_token_fails_without_sending_anything() -> None:
    app = ScriptedApp()
    recorder = Recorder()

    async def main() -> None:
        async with client_for(app, tokens=SignedOut(), listener=recorder) as graph:
            with pytest.raises(AuthRequired):
                await graph.drive()

    run_mocked(main)
    assert app.seen == []
    assert recorder.events == ["auth"]


def test_a_conflict_is_not_retried() -> None:
    app = ScriptedApp(Answer(409, {"error": {"code": "nameAlreadyExists"}}))

    async def main() -> None:
        async with client_for(app) as graph:
            with pytest.raises(NameConflict):
                await graph.create_folder("root-id", "Taken")

    run_mocked(main)
    assert len(app.seen) == 1


def test_the_token_never_leaves_the_graph_origin() -> None:
    elsewhere = "http://evil.test/v1.0/me/drive/root/delta?token=x"
    app = ScriptedApp(Answer(200, {"value": [], "@odata.nextLink": elsewhere}))

    async def main() -> None:
        async with client_for(app) as graph:
            pages = graph.delta()
            await pages.__anext__()
            with pytest.raises(Exception, match="leaves the Graph origin"):
                await pages.__anext__()

    run_mocked(main)
    assert len(app.seen) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_answer_is_offline_and_reported_once() -> None:
    # A real refused connection (real time: MockClock would jump over the socket wait).
    recorder = Recorder()
    config = GraphConfig(
        base_url=f"http://127.0.0.1:{closed_port()}/v1.0",
        policy=RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.001),
    )

    async def main() -> None:
        async with GraphClient(StaticToken("t"), config, listener=recorder) as graph:
            with pytest.raises(Offline) as caught:
                await graph.drive()
        assert caught.value.status is None

    trio.run(main)
    assert recorder.events == ["network"]


def test_uploads_and_downloads_urls_get_no_token() -> None:
    app = ScriptedApp(Answer(200, {"nextExpectedRanges": ["0-"]}))

    async def main() -> None:
        async with client_for(app) as graph:
            await graph.core.call(lambda: Request("GET", "http://up.test/session/1", auth=False))

    run_mocked(main)
    assert "authorization" not in app.seen[0].headers
