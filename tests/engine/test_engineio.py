"""The Engine.IO v4 / Socket.IO v5 codec on the packets of graph-api.md §11, and the
subscription's renewal schedule: pure functions, exact values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onemount.engine import engineio
from onemount.engine.engineio import (
    Closed,
    Event,
    Joined,
    JoinRefused,
    Opened,
    Ping,
    ProtocolError,
    Unhandled,
    decode,
)
from onemount.engine.notifications import NotifierConfig, renewal_delay


def test_the_socket_url_keeps_the_host_and_the_whole_query() -> None:
    url = "https://f3hb0mpua.svc.ms/zbaehwg/notifications?token=abc%2Bd&applicationId=42"
    assert engineio.socket_url(url) == (
        "wss://f3hb0mpua.svc.ms/socket.io/?EIO=4&transport=websocket&token=abc%2Bd&applicationId=42"
    )
    assert engineio.socket_url("http://127.0.0.1:8080/notifications") == (
        "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket"
    )


def test_the_open_packet_gives_the_heartbeat_in_seconds() -> None:
    packet = decode('0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":60000}')
    assert packet == Opened("s1", 25.0, 60.0)


@pytest.mark.parametrize(
    "message",
    [
        "0",
        "0[]",
        '0{"pingInterval":25000,"pingTimeout":60000}',
        '0{"sid":"s","pingInterval":true,"pingTimeout":60000}',
        '0{"sid":"s","pingInterval":25000,"pingTimeout":0}',
        '0{"sid":"s","pingInterval":"25000","pingTimeout":60000}',
    ],
)
def test_a_bad_open_packet_is_a_protocol_error(message: str) -> None:
    with pytest.raises(ProtocolError):
        decode(message)


@pytest.mark.parametrize(
    ("message", "packet"),
    [
        ("2", Ping()),
        ("2probe", Ping("probe")),
        ("1", Closed(None)),
        ("3", Unhandled("engine.io 3")),
        ("6", Unhandled("engine.io 6")),
        ('40{"sid":"x"}', Joined("/")),
        ('40/notifications,{"sid":"x"}', Joined("/notifications")),
        ("40/notifications", Joined("/notifications")),
        ("41", Closed("/")),
        ("41/notifications,", Closed("/notifications")),
        ('44/notifications,{"message":"no"}', JoinRefused("/notifications", '{"message":"no"}')),
        ('42/notifications,["notification",{"value":[]}]', Event("/notifications", "notification")),
        ('42["notification",{}]', Event("/", "notification")),
        ('42/notifications,17["notification"]', Event("/notifications", "notification")),
        ('42["other"]', Event("/", "other")),
        ("43/notifications,1[]", Unhandled("socket.io ack")),
        ('451-["notification",{"_placeholder":true,"num":0}]', Unhandled("socket.io 5")),
    ],
)
def test_packets_decode_to_what_they_mean(message: str, packet: engineio.Packet) -> None:
    assert decode(message) == packet


@pytest.mark.parametrize(
    "message",
    [b"2", "", "9", "4", "47", '42/notifications,{"not":"an array"}', "42[]", "42[1]", "42[nope"],
)
def test_anything_else_is_a_protocol_error(message: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        decode(message)


def test_a_pong_echoes_its_ping() -> None:
    assert engineio.pong(Ping()) == "3"
    assert engineio.pong(Ping("probe")) == "3probe"


def test_renewal_is_early_halfway_for_short_lives_and_never_a_loop() -> None:
    config = NotifierConfig(renew_early=120.0, min_renew_after=30.0)
    now = datetime(2025, 1, 1, tzinfo=UTC).timestamp()

    def expiring_in(seconds: float) -> datetime:
        return datetime.fromtimestamp(now + seconds, UTC)

    assert renewal_delay(expiring_in(3 * 86400), now, config) == 3 * 86400 - 120
    assert renewal_delay(expiring_in(200), now, config) == 100  # shorter than 2 x 120 s
    assert renewal_delay(expiring_in(20), now, config) == 30
    assert renewal_delay(expiring_in(-3600), now, config) == 30  # a server clock in the past
    assert renewal_delay(None, now, config) == float("inf")
