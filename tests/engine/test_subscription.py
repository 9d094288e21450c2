"""``GraphClient.subscribe_socketio`` against the fake over loopback, and the strict parsing
and redaction of its answer (the notificationUrl is a credential)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from onemount.fakegraph import FaultRule
from onemount.graph import GraphError, MalformedResponse
from onemount.graph.subscriptions import (
    SocketIoSubscription,
    parse_socketio_subscription,
    redact_url,
)
from tests.engine.harness import SOCKET_IO, Served, served


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path / "drive") as server:
        yield server


def subscribe(server: Served) -> SocketIoSubscription:
    async def main() -> SocketIoSubscription:
        async with server.client() as graph:
            return await graph.subscribe_socketio()

    return trio.run(main)


def test_the_fake_hands_out_a_subscription_on_its_own_host(server: Served) -> None:
    subscription = subscribe(server)
    assert subscription.id.startswith("opaqueId-")
    assert subscription.notification_url.startswith(f"{server.origin}/notifications?token=")
    assert subscription.expires is not None
    lifetime = subscription.expires - datetime.now(UTC)
    assert timedelta(days=2, hours=23) < lifetime <= timedelta(days=3)
    assert "token" not in repr(subscription)
    assert subscription.redacted_url == f"{server.origin}/notifications?token=***&applicationId=***"


def test_a_refusal_is_the_clients_typed_error_with_its_status(server: Served) -> None:
    server.graph.faults.add(FaultRule(path=SOCKET_IO, method="GET", status=403))
    with pytest.raises(GraphError) as refused:
        subscribe(server)
    assert type(refused.value) is GraphError and refused.value.status == 403


def test_the_call_goes_through_the_retry_loop(server: Served) -> None:
    server.graph.faults.add(FaultRule(path=SOCKET_IO, method="GET", status=500))
    assert subscribe(server).id
    statuses = [r.status for r in server.graph.faults.requests() if r.path == SOCKET_IO]
    assert statuses == [500, 200]


GOOD = {
    "id": "opaqueId-1",
    "notificationUrl": "https://h.svc.ms/n?token=secret",
    "expirationDateTime": "2025-01-04T10:00:00.1234567Z",
}


def test_a_good_answer_parses_and_the_expiry_may_be_missing() -> None:
    parsed = parse_socketio_subscription(GOOD)
    assert parsed.expires == datetime(2025, 1, 4, 10, 0, 0, 123456, tzinfo=UTC)
    missing = {k: v for k, v in GOOD.items() if k != "expirationDateTime"}
    assert parse_socketio_subscription(missing).expires is None


@pytest.mark.parametrize(
    "change",
    [
        {"id": ""},
        {"id": 7},
        {"notificationUrl": None},
        {"notificationUrl": "wss://h/n?token=secret"},
        {"notificationUrl": "/relative?token=secret"},
        {"notificationUrl": "https://h:port/n?token=secret"},
        {"expirationDateTime": "2025-01-04T10:00:00"},
        {"expirationDateTime": "tomorrow"},
        {"expirationDateTime": 1736000000},
    ],
)
def test_a_bad_answer_is_malformed_and_never_echoes_the_url(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse) as bad:
        parse_socketio_subscription({**GOOD, **change})
    assert "secret" not in str(bad.value)


def test_a_body_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        parse_socketio_subscription(["not", "an", "object"])


def test_redaction_masks_every_query_value_but_the_protocols() -> None:
    url = "wss://h/socket.io/?EIO=4&transport=websocket&token=s3cr3t&applicationId=a"
    assert (
        redact_url(url)
        == "wss://h/socket.io/?EIO=4&transport=websocket&token=***&applicationId=***"
    )
    line = "Connecting to ws://h:80/socket.io/?EIO=4&token=abc more text"
    assert redact_url(line) == "Connecting to ws://h:80/socket.io/?EIO=4&token=*** more text"
    assert redact_url("no query here") == "no query here"
