"""The change notifier against the real fake Graph on 127.0.0.1, over a real WebSocket.

"Another device" is the fake's admin API over HTTP; a server that goes away is the fake shut
down and served again on its port; a refused subscription is a fault rule. Every wait is on an
event (a wake, a health change) under a deadline; no test sleeps to let something happen.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from onemount.engine.backoff import Backoff
from onemount.engine.cadence import Cadence, CadenceConfig, Doorbell, Wake
from onemount.engine.notifications import (
    ChangeNotifier,
    NotifierConfig,
    NotifierHealth,
    NotifierState,
)
from onemount.fakegraph import FaultRule, Tls
from tests.engine.harness import (
    SOCKET_IO,
    Served,
    admin_create,
    served,
    tasks_alive,
    watching,
)

CONNECTED, BACKOFF = NotifierState.CONNECTED, NotifierState.BACKOFF
CONNECTING, UNAVAILABLE = NotifierState.CONNECTING, NotifierState.UNAVAILABLE


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    # The fake's own debounce (0.2 s) stays: the latency measured is what a client would see.
    with served(tmp_path / "drive") as server:
        yield server


def test_a_change_from_another_device_wakes_the_notifier(server: Served) -> None:
    latencies: list[float] = []

    async def main() -> None:
        async with watching(server) as watched, httpx.AsyncClient() as admin:
            await watched.reach(CONNECTED)
            await watched.next_wake()  # the wake that follows every join (catch-up)
            for n in range(20):
                started = trio.current_time()
                await admin_create(admin, server, f"change {n}")
                woken = await watched.next_wake()
                latencies.append(woken - started)
            assert watched.drain() == 0  # one change, one wake: nothing was left over

    trio.run(main)
    median, worst = statistics.median(latencies), max(latencies)
    print(f"\nnotification latency over 20 changes: median {median:.3f} s, max {worst:.3f} s")
    # Nothing polls here: every wake came down the socket. The aim is a median under 1 s.
    assert median < 1.0, latencies


def test_a_burst_of_changes_makes_few_wakes_and_fewer_deltas(server: Served) -> None:
    names = {f"burst {n}" for n in range(20)}

    async def main() -> None:
        cadence = Cadence(CadenceConfig())  # healthy: the safety net is 15 min away
        cadence.notifications_healthy(True)
        doorbell = Doorbell()
        wakes = 0

        def wake() -> None:
            nonlocal wakes
            wakes += 1
            doorbell.ring()

        async with server.client() as graph, httpx.AsyncClient() as admin:
            cursor = await graph.latest_cursor()
            cadence.note_success(trio.current_time())
            notifier = ChangeNotifier(graph, wake=wake)
            async with trio.open_nursery() as nursery:
                health = await nursery.start(notifier.run)
                assert health.state is CONNECTED
                assert await doorbell.wait(cadence) is Wake.RUNG  # the join's catch-up
                wakes = 0
                started = trio.current_time()
                for name in sorted(names):
                    await admin_create(admin, server, name)
                burst = trio.current_time() - started
                seen: set[str] = set()
                deltas = 0
                with trio.fail_after(10):
                    while not names <= seen:  # a delta loop in miniature
                        assert await doorbell.wait(cadence) is Wake.RUNG
                        pages = graph.delta(cursor)
                        seen |= {item.name for item in await pages.all_items() if item.name}
                        assert pages.delta_link is not None
                        cursor = pages.delta_link
                        deltas += 1
                nursery.cancel_scope.cancel()
        print(f"\n20 changes in {burst:.3f} s: {wakes} wakes, {deltas} deltas")
        # The fake taps at most once per 0.2 s debounce; the doorbell folds taps that arrive
        # while a delta runs into one more delta.
        assert 1 <= deltas <= wakes <= burst / 0.2 + 2 < 20

    trio.run(main)


def test_a_silent_server_is_noticed_and_the_notifier_reconnects(tmp_path: Path) -> None:
    with served(tmp_path / "drive", ping_interval=0.2, ping_timeout=0.3) as server:
        hub = server.graph.notifications
        config = NotifierConfig(reconnect=Backoff(base=0.2, cap=1.0))

        async def main() -> None:
            async with watching(server, config) as watched, httpx.AsyncClient() as admin:
                await watched.reach(CONNECTED)
                hub.ping_interval = 3600.0  # the server stops pinging after its next ping
                lost = await watched.reach(BACKOFF, within=5)
                assert lost.reason == "no ping from the server in 0.5 s"
                hub.ping_interval = 0.2
                await watched.reach(CONNECTED, within=5)
                watched.drain()
                await admin_create(admin, server, "after the silence")
                await watched.next_wake(within=5)

        trio.run(main)


def test_a_server_that_goes_away_is_reconnected_with_growing_backoff(server: Served) -> None:
    backoff = Backoff(base=0.1, cap=0.4)
    config = NotifierConfig(reconnect=backoff)

    async def main() -> None:
        async with watching(server, config) as watched, httpx.AsyncClient() as admin:
            await watched.reach(CONNECTED)
            await trio.to_thread.run_sync(server.stop)
            with trio.fail_after(20):
                while sum(h.state is BACKOFF for _, h in watched.healths) < 5:
                    await watched.notifier.wait_for(CONNECTING)
                    await watched.notifier.wait_for(BACKOFF)
            failed = [(at, h) for at, h in watched.healths if h.state is BACKOFF]
            assert failed[0][1].reason.startswith("socket closed")
            assert {h.reason for _, h in failed[1:]} == {"subscription failed: Offline"}
            # draw=0: each wait is its ceiling, doubling from 0.1 s to the 0.4 s cap.
            assert [h.retry_in for _, h in failed[:5]] == [0.1, 0.2, 0.4, 0.4, 0.4]
            assert [h.failures for _, h in failed[:5]] == [1, 2, 3, 4, 5]
            attempts = [at for at, h in watched.healths if h.state is CONNECTING]
            assert len(attempts) >= 4  # each failure but the last was followed by an attempt
            for (failed_at, health), next_try in zip(failed, attempts, strict=False):
                assert next_try - failed_at >= health.retry_in  # type: ignore[operator]
            await trio.to_thread.run_sync(server.start)
            await watched.reach(CONNECTED, within=5)
            watched.drain()
            await admin_create(admin, server, "back again")
            await watched.next_wake(within=5)

    trio.run(main)


def test_reconnect_now_cuts_a_long_backoff_short(server: Served) -> None:
    config = NotifierConfig(reconnect=Backoff(base=60.0, cap=600.0))

    async def main() -> None:
        async with watching(server, config) as watched:
            await watched.reach(CONNECTED)
            watched.notifier.reconnect_now()  # connected: nothing to cut short, nothing kept
            await trio.to_thread.run_sync(server.stop)
            waiting = await watched.reach(BACKOFF)
            assert waiting.retry_in == 60.0
            await trio.to_thread.run_sync(server.start)
            watched.notifier.reconnect_now()  # e.g. connectivity says we are back online
            await watched.reach(CONNECTED, within=5)
            assert watched.states() == [CONNECTED, BACKOFF, CONNECTING, CONNECTED]

    trio.run(main)


def test_a_refused_subscription_hands_over_to_polling(server: Served) -> None:
    server.graph.faults.add(FaultRule(path=SOCKET_IO, method="GET", status=403, count=-1))
    cadence = Cadence(CadenceConfig(active=0.2, idle=0.5, safety_net=600.0))
    doorbell = Doorbell()

    def on_health(health: NotifierHealth) -> None:
        cadence.notifications_healthy(health.healthy)
        doorbell.reschedule()

    async def main() -> None:
        async with (
            watching(server, on_health=on_health) as watched,
            server.client() as graph,
            httpx.AsyncClient() as admin,
        ):
            refused = await watched.reach(UNAVAILABLE)
            assert refused.reason == "subscription refused: 403 generalException"
            assert refused.retry_in == NotifierConfig().unavailable_retry
            cursor = await graph.latest_cursor()
            cadence.note_success(trio.current_time())
            started = trio.current_time()
            await admin_create(admin, server, "found by polling")
            with trio.fail_after(10):
                while True:  # the delta loop in miniature: polls as the cadence says
                    assert await doorbell.wait(cadence) is Wake.DUE
                    pages = graph.delta(cursor)
                    names = {item.name for item in await pages.all_items()}
                    assert pages.delta_link is not None
                    cursor = pages.delta_link
                    cadence.note_success(trio.current_time())
                    if "found by polling" in names:
                        break
            took = trio.current_time() - started
            print(f"\nnotifications refused: the change was found by polling in {took:.2f} s")
            assert watched.notifier.health == refused  # it does not hammer the refusing endpoint
            asked = [r for r in server.graph.faults.requests() if r.path == SOCKET_IO]
            assert len(asked) == 1 and asked[0].status == 403

    trio.run(main)


def test_an_unavailable_notifier_asks_again_later(server: Served) -> None:
    server.graph.faults.add(FaultRule(path=SOCKET_IO, method="GET", status=403, count=1))
    config = NotifierConfig(unavailable_retry=0.3)

    async def main() -> None:
        async with watching(server, config) as watched:
            await watched.reach(UNAVAILABLE)
            await watched.reach(CONNECTED, within=5)
            assert watched.states() == [UNAVAILABLE, CONNECTING, CONNECTED]

    trio.run(main)


def test_the_subscription_is_renewed_before_it_expires(server: Served) -> None:
    server.graph.notifications.lifetime = 2.0
    config = NotifierConfig(renew_early=1.0, min_renew_after=0.2)

    async def main() -> None:
        async with watching(server, config) as watched, httpx.AsyncClient() as admin:
            await watched.reach(CONNECTED)
            with trio.fail_after(5):
                while len(watched.subscriber.subscriptions) < 2:
                    await watched.notifier.wait_for(CONNECTING)
                    await watched.notifier.wait_for(CONNECTED)
            renewing = [h for _, h in watched.healths if h.state is CONNECTING]
            assert renewing[0].reason == "renewing the subscription"
            assert BACKOFF not in watched.states()  # a renewal is not a failure
            first, second = watched.subscriber.subscriptions[:2]
            assert first.notification_url != second.notification_url
            await watched.reach(CONNECTED)
            watched.drain()
            await admin_create(admin, server, "after renewal")
            await watched.next_wake(within=5)

    trio.run(main)


def test_wss_connects_only_to_a_certificate_it_can_verify(tmp_path: Path, tls: Tls) -> None:
    config = NotifierConfig(connect_timeout=1.0, reconnect=Backoff(base=60.0, cap=60.0))
    with served(tmp_path / "drive", tls) as server:

        async def main() -> None:
            async with watching(server, config, ssl_context=server.trust) as watched:
                await watched.reach(CONNECTED)
                (subscription,) = watched.subscriber.subscriptions
                assert subscription.notification_url.startswith("https://")
            # The system's trust store does not know the test's certificate: the token in
            # the URL must not be sent, and the notifier waits to try again.
            async with watching(server, config) as watched:
                refused = await watched.reach(BACKOFF)
                assert refused.reason == "could not connect in 1 s"

        trio.run(main)


@pytest.mark.parametrize("where", ["connected", "backoff", "subscribing"])
def test_cancellation_stops_the_notifier_and_leaves_no_task(server: Served, where: str) -> None:
    if where == "backoff":
        server.graph.faults.add(FaultRule(path=SOCKET_IO, status=500, count=-1))
    if where == "subscribing":
        server.graph.faults.add(FaultRule(path=SOCKET_IO, latency=30.0, status=500, count=-1))
    config = NotifierConfig(reconnect=Backoff(base=60.0, cap=60.0))
    expected = {"connected": CONNECTED, "backoff": BACKOFF, "subscribing": CONNECTING}[where]

    async def main() -> None:
        before = tasks_alive()
        with trio.fail_after(5):  # cancellation is prompt, wherever it lands
            async with watching(server, config) as watched:
                await watched.reach(expected)
                assert len(tasks_alive()) > len(before)
        assert tasks_alive() == before

    trio.run(main)


def test_the_notification_token_never_reaches_a_log(
    server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with watching(server) as watched, httpx.AsyncClient() as admin:
            await watched.reach(CONNECTED)
            await watched.next_wake()
            await admin_create(admin, server, "logged")
            await watched.next_wake()
            (subscription,) = watched.subscriber.subscriptions
            token = subscription.notification_url.split("token=")[1].split("&")[0]
            assert len(token) > 16 and token not in repr(subscription)
            messages = [record.getMessage() for record in caplog.records]
            assert not [m for m in messages if token in m]
            # trio-websocket's own debug line was there, redacted.
            assert any("socket.io/?EIO=4&transport=websocket&token=***" in m for m in messages)

    trio.run(main)
