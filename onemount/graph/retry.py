"""The one retry loop: every Graph operation retries here and nowhere else (L-max-retries).

An operation hands :meth:`Retrier.run` an *attempt*: an async function that builds its request
afresh (never a consumed body replayed: L18), sends it, and returns or raises. The loop decides
what a failure means:

* 429/503 with Retry-After: the core has already paused every request; the next attempt
  waits at the gate. Giving up is immediate when the pause outlasts the operation's deadline.
* 5xx, 408, 509, 429 without Retry-After, and transport errors (by exception type): full-jitter
  exponential backoff.
* a 401: one forced token refresh, then :class:`AuthRequired`.
* anything else: raised at once.

Attempts are bounded by failures *in a row without progress*: a long download or upload that
keeps moving forward after each dropped connection is not failing, so an optional ``progress``
reading resets the count. The total wall time is bounded regardless.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import trio

from onemount.graph.errors import (
    NETWORK_ERRORS,
    AuthRequired,
    ErrorInfo,
    GraphError,
    Offline,
    ServerError,
    Throttled,
)
from onemount.graph.outcomes import OutcomeListener
from onemount.graph.pacing import ThrottleGate
from onemount.graph.policy import RetryPolicy

_T = TypeVar("_T")


@dataclass
class Attempt:
    """What an attempt needs from the loop: its number, the deadline, whether to refresh auth."""

    number: int
    deadline: float  # trio time
    force_refresh: bool = False


class Retrier:
    """Applies a :class:`RetryPolicy` to attempts; ``draw`` is the jitter source (injectable)."""

    def __init__(
        self,
        policy: RetryPolicy,
        gate: ThrottleGate,
        listener: OutcomeListener,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy
        self.gate = gate
        self.listener = listener
        self.draw = draw

    async def run(
        self,
        attempt: Callable[[Attempt], Awaitable[_T]],
        *,
        progress: Callable[[], int] | None = None,
        policy: RetryPolicy | None = None,
    ) -> _T:
        """Run ``attempt`` until it returns, or raise the typed error of the last failure."""
        policy = policy or self.policy
        state = Attempt(number=0, deadline=trio.current_time() + policy.max_total)
        failures = 0
        mark = progress() if progress else 0
        while True:
            state.number += 1
            try:
                return await attempt(state)
            except AuthRequired as exc:
                # A 401 gets one replay with a freshly refreshed token; a provider that has no
                # token (no status) or a second 401 means the user must sign in again.
                if exc.status == 401 and not state.force_refresh:
                    state.force_refresh = True
                    continue
                self.listener.auth_failed()
                raise
            except Throttled as exc:
                error: GraphError = exc
                resume_at = self.gate.paused_until if exc.retry_after is not None else None
            except ServerError as exc:
                error, resume_at = exc, None
            except NETWORK_ERRORS as exc:
                error, resume_at = Offline(ErrorInfo(None), f"{type(exc).__name__}: {exc}"), None
                error.__cause__ = exc
            if progress is not None and (now_at := progress()) > mark:
                failures, mark = 0, now_at
            failures += 1
            now = trio.current_time()
            if resume_at is None:
                resume_at = now + policy.backoff(failures, self.draw())
            if failures >= policy.max_attempts or resume_at > state.deadline:
                if isinstance(error, Offline):
                    self.listener.network_error()
                raise error
            # After a throttle this sleeps until the pause ends; the next attempt checks the
            # gate again in case another request extended the pause meanwhile.
            await trio.sleep_until(resume_at)
