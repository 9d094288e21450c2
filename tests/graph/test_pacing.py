"""The token bucket and the global throttle gate, timed exactly under MockClock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from onemount.graph.errors import Throttled
from onemount.graph.pacing import RateLimiter, ThrottleGate


def run_mocked(main: object) -> None:
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))  # type: ignore[arg-type]


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(rate=10, burst=2)
    times: list[float] = []

    async def main() -> None:
        for _ in range(5):
            await limiter.acquire()
            times.append(trio.current_time())
        await trio.sleep(1)  # idle time refills the bucket, but only up to the burst
        for _ in range(3):
            await limiter.acquire()
            times.append(trio.current_time())

    run_mocked(main)
    assert times == pytest.approx([0, 0, 0.1, 0.2, 0.3, 1.3, 1.3, 1.4])


def test_concurrent_waiters_share_the_rate() -> None:
    limiter = RateLimiter(rate=4, burst=1)
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(trio.current_time())

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(one)

    run_mocked(main)
    assert sorted(times) == pytest.approx([0, 0.25, 0.5, 0.75])


def test_the_gate_holds_everyone_until_the_pause_ends_and_only_extends() -> None:
    gate = ThrottleGate()
    resumed: list[float] = []

    async def waiter() -> None:
        await gate.wait(deadline=100)
        resumed.append(trio.current_time())

    async def main() -> None:
        gate.pause(5)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            nursery.start_soon(waiter)
            await trio.sleep(2)
            gate.pause(1)  # shorter than what is left: no effect
            gate.pause(6)  # longer: ends at 8
        await gate.wait(deadline=100)  # not paused any more: no wait
        resumed.append(trio.current_time())

    run_mocked(main)
    assert resumed == [8, 8, 8]


def test_a_pause_past_the_deadline_raises_at_once() -> None:
    gate = ThrottleGate()

    async def main() -> None:
        gate.pause(50)
        with pytest.raises(Throttled) as caught:
            await gate.wait(deadline=10)
        assert caught.value.retry_after == 50
        assert trio.current_time() == 0

    run_mocked(main)
