"""Process-wide pacing of requests: a token-bucket rate limit and the throttle pause.

Both are shared by every request of one client, which is what Graph asks for: when it answers
429/503 with Retry-After, *all* requests must hold off, not just the one that was refused
(graph-api.md §7). Both read trio's clock, so tests run them under ``trio.testing.MockClock``
and every wait is exact.
"""

from __future__ import annotations

import math

import trio

from onemount.graph.errors import ErrorInfo, Throttled


class RateLimiter:
    """A token bucket: ``rate`` requests a second on average, bursts of up to ``burst``.

    Waiters queue on a fair ``trio.Lock``, so requests leave in the order they arrived and a
    stream of small requests cannot starve one that came first.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp: float | None = None  # trio's clock is only readable inside trio.run
        self._lock = trio.Lock()

    async def acquire(self) -> None:
        """Wait until one request may be sent, and take its token."""
        if math.isinf(self.rate):
            return
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await trio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = trio.current_time()
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now


class ThrottleGate:
    """The global pause: while the service's Retry-After runs, no request is sent.

    A new Retry-After extends the pause but never shortens it, since the service may ask for
    longer waits as throttling goes on.
    """

    def __init__(self) -> None:
        self._until = -math.inf

    @property
    def paused_until(self) -> float:
        """trio time at which sending may resume (in the past when not paused)."""
        return self._until

    def pause(self, seconds: float) -> None:
        self._until = max(self._until, trio.current_time() + seconds)

    async def wait(self, deadline: float) -> None:
        """Return when no pause is in force; raise :class:`Throttled` if it outlasts ``deadline``.

        Loops because the pause may be extended by another request while this one sleeps.
        """
        while (until := self._until) > (now := trio.current_time()):
            if until > deadline:
                raise Throttled(ErrorInfo(None), until - now, "paused past this operation's time")
            await trio.sleep_until(until)
