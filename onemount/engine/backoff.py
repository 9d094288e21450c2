"""Jittered exponential backoff, as a pure function of the failure count and a random draw.

Used by the notifier (reconnecting) and the polling cadence (a failed delta). "Equal jitter"
rather than the Graph client's full jitter: the delay is drawn from the upper half of the
ceiling (``jitter=0.5``), so a reconnect loop always waits a real fraction of its ceiling and a
fleet of clients still spreads out after a shared outage. Full jitter may draw zero, which for a
per-request retry is fine but for a loop that keeps failing means hammering.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` is in ``[ceiling·(1-jitter), ceiling]``, ``ceiling = min(cap, base·2ⁿ⁻¹)``."""

    base: float
    cap: float
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError("backoff needs 0 < base <= cap")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction in [0, 1]")

    def delay(self, failures: int, draw: float) -> float:
        """The wait after the ``failures``-th failure in a row (1-based); ``draw`` in [0, 1]."""
        if failures < 1:
            raise ValueError("delay is defined after at least one failure")
        ceiling = min(self.cap, self.base * 2.0 ** min(failures - 1, 62))
        return ceiling * (1.0 - self.jitter * draw)
