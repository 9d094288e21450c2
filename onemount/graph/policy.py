"""The retry policy as pure functions: how long to wait, and when to stop.

Kept free of I/O and of clocks so every number is checkable exactly: :func:`retry_after` takes
the wall-clock time it compares an HTTP-date with, :meth:`RetryPolicy.backoff` takes the random
draw. The loop that applies the policy is :mod:`onemount.graph.retry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for one operation's retries.

    ``max_attempts`` counts attempts that made no progress in a row (see
    :meth:`onemount.graph.retry.Retrier.run`), ``max_total`` bounds the wall time of the whole
    operation including waits. Backoff is "full jitter": a uniform draw in
    ``[0, min(cap, base * 2**n))``, which spreads clients apart instead of synchronising them.
    """

    max_attempts: int = 6
    max_total: float = 120.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_total <= 0:
            raise ValueError("a retry policy needs at least one attempt and some time")
        if self.backoff_base < 0 or self.backoff_cap < self.backoff_base:
            raise ValueError("backoff needs 0 <= base <= cap")

    def backoff(self, failures: int, draw: float) -> float:
        """The wait after the ``failures``-th failure in a row (1-based); ``draw`` in [0, 1)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** min(failures - 1, 62))
        return draw * ceiling


def retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` if absent or unreadable.

    Both forms of RFC 9110 are read: delta-seconds (``"41"``) and an HTTP-date, which is
    compared with ``now`` (epoch seconds). A date in the past means "now" (0), never negative.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive and means it too
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp() - now
    return max(0.0, seconds) if math.isfinite(seconds) else None
