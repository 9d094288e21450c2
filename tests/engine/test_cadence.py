"""The polling cadence at explicit instants, the backoff's numbers, and the doorbell's wait
under trio's MockClock (so "due after 5 s" is checked to the instant, with no real waiting)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from onemount.engine.backoff import Backoff
from onemount.engine.cadence import Cadence, CadenceConfig, Doorbell, Wake


def polled_at(at: float, draw: float = 0.0) -> Cadence:
    """A cadence with the documented defaults whose last delta finished at ``at``."""
    cadence = Cadence(draw=lambda: draw)
    cadence.note_success(at)
    return cadence


def test_the_first_poll_is_at_once() -> None:
    assert Cadence().next_delay(0.0) == 0.0


def test_with_notifications_healthy_the_safety_net_runs_every_15_minutes() -> None:
    cadence = polled_at(1000.0)
    cadence.notifications_healthy(True)
    assert cadence.next_delay(1000.0) == 900.0
    assert cadence.next_delay(1600.0) == 300.0
    cadence.note_local_activity(1700.0)  # the echo of our own change will be notified
    assert cadence.next_delay(1700.0) == 200.0
    assert cadence.next_delay(2500.0) == 0.0  # overdue is "now", never negative


def test_without_notifications_a_quiet_drive_is_polled_every_minute() -> None:
    cadence = polled_at(1000.0)  # nothing ever happened
    assert cadence.next_delay(1000.0) == 60.0


def test_without_notifications_activity_polls_fast_then_slows_down_geometrically() -> None:
    cadence = polled_at(0.0)
    cadence.note_remote_change(0.0)  # the delta at 0 brought changes
    now, delays = 0.0, list[float]()
    while not delays or delays[-1] < 60.0:
        delay = cadence.next_delay(now)
        delays.append(round(delay, 2))
        now += delay
        cadence.note_success(now)  # each poll finds nothing new
    assert delays == [5.0, 5.0, 5.0, 7.5, 11.25, 16.88, 25.31, 37.97, 56.95, 60.0]


def test_a_delta_with_changes_polls_soon_in_whichever_order_it_is_noted() -> None:
    after, before = polled_at(50.0), Cadence()
    after.note_remote_change(50.0)
    before.note_remote_change(50.0)
    before.note_success(50.0)
    assert after.next_delay(50.0) == before.next_delay(50.0) == 5.0


def test_local_activity_brings_the_next_poll_forward() -> None:
    cadence = polled_at(100.0)
    assert cadence.next_delay(130.0) == 30.0  # due at 160 on a quiet drive
    cadence.note_local_activity(130.0)
    assert cadence.next_delay(130.0) == 5.0  # 5 s after the activity
    assert cadence.next_delay(133.0) == 2.0
    cadence.note_local_activity(158.0)  # later activity cannot push the poll past 160
    assert cadence.next_delay(158.0) == 2.0


def test_losing_notifications_makes_an_overdue_poll_at_once() -> None:
    cadence = polled_at(0.0)
    cadence.notifications_healthy(True)
    assert cadence.next_delay(200.0) == 700.0
    cadence.notifications_healthy(False)  # the socket dropped; the last delta was 200 s ago
    assert cadence.next_delay(200.0) == 0.0


def test_failures_retry_soon_and_back_off_whatever_the_notifications_say() -> None:
    cadence = polled_at(0.0, draw=0.0)  # draw 0: each delay is its ceiling
    cadence.notifications_healthy(True)
    now, delays = 0.0, list[float]()
    for _ in range(10):
        cadence.note_failure(now)
        delays.append(cadence.next_delay(now))
        now += delays[-1]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
    assert cadence.failures == 10
    cadence.note_success(now)
    assert cadence.failures == 0 and cadence.next_delay(now) == 900.0


def test_failure_jitter_is_drawn_once_per_failure() -> None:
    draws = iter([1.0, 0.5])
    cadence = Cadence(draw=lambda: next(draws))
    cadence.note_failure(10.0)
    assert cadence.next_delay(10.0) == cadence.next_delay(10.0) == 1.0  # 2 s, halved
    cadence.note_failure(11.0)
    assert cadence.next_delay(11.0) == 3.0  # 4 s, three quarters


def test_backoff_is_doubled_capped_and_jittered_within_its_upper_half() -> None:
    backoff = Backoff(base=1.0, cap=300.0)
    assert [backoff.delay(n, 0.0) for n in (1, 2, 3, 9, 10, 1000)] == [1, 2, 4, 256, 300, 300]
    assert backoff.delay(3, 1.0) == 2.0
    assert Backoff(base=1.0, cap=8.0, jitter=0.0).delay(2, 1.0) == 2.0
    with pytest.raises(ValueError):
        backoff.delay(0, 0.0)
    with pytest.raises(ValueError):
        Backoff(base=2.0, cap=1.0)


def test_a_cadence_config_refuses_numbers_that_make_no_sense() -> None:
    with pytest.raises(ValueError):
        CadenceConfig(active=10.0, idle=5.0)
    with pytest.raises(ValueError):
        CadenceConfig(safety_net=0.0)


def run_mocked(main: Callable[[], Awaitable[None]]) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_doorbell_returns_when_the_poll_is_due() -> None:
    async def main() -> None:
        cadence = polled_at(trio.current_time())
        assert await Doorbell().wait(cadence) is Wake.DUE
        assert trio.current_time() == 60.0

    run_mocked(main)


def test_a_ring_returns_at_once_and_rings_coalesce() -> None:
    async def main() -> None:
        cadence = polled_at(trio.current_time())
        doorbell = Doorbell()
        async with trio.open_nursery() as nursery:

            async def ring_at(when: float) -> None:
                await trio.sleep_until(when)
                doorbell.ring()

            for when in (7.0, 7.0, 8.0):
                nursery.start_soon(ring_at, when)
            assert await doorbell.wait(cadence) is Wake.RUNG
            assert trio.current_time() == 7.0
            await trio.sleep(2)  # a delta runs; the rings of 7 and 8 s wait for the next look
            assert await doorbell.wait(cadence) is Wake.RUNG
            assert trio.current_time() == 9.0
            cadence.note_success(9.0)
            assert await doorbell.wait(cadence) is Wake.DUE  # three rings made two wakes
            assert trio.current_time() == 69.0

    run_mocked(main)


def test_rescheduling_makes_the_wait_read_the_cadence_again() -> None:
    async def main() -> None:
        cadence = polled_at(trio.current_time())
        doorbell = Doorbell()
        async with trio.open_nursery() as nursery:

            async def activity_at(when: float) -> None:
                await trio.sleep_until(when)
                cadence.note_local_activity(when)
                doorbell.reschedule()

            nursery.start_soon(activity_at, 20.0)
            assert await doorbell.wait(cadence) is Wake.DUE
            assert trio.current_time() == 25.0  # 5 s after the activity, not at 60

    run_mocked(main)
