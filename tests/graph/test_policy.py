"""The pure parts of the retry policy: backoff bounds and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from onemount.graph.policy import RetryPolicy, retry_after

NOW = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC).timestamp()


def test_full_jitter_spans_zero_to_the_exponential_ceiling() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=30.0)
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    for failures, ceiling in enumerate(ceilings, start=1):
        assert policy.backoff(failures, 0.0) == 0.0
        assert policy.backoff(failures, 0.999) == pytest.approx(0.999 * ceiling)


def test_backoff_does_not_overflow_after_many_failures() -> None:
    assert RetryPolicy().backoff(10_000, 0.5) == 15.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("41", 41.0),
        (" 315 ", 315.0),
        ("0", 0.0),
        (format_datetime(datetime(2026, 3, 1, 8, 1, 30, tzinfo=UTC), usegmt=True), 90.0),
        ("Sun, 01 Mar 2026 08:00:10 -0000", 10.0),  # unknown zone: read as GMT
        (format_datetime(datetime(2026, 3, 1, 7, 0, 0, tzinfo=UTC), usegmt=True), 0.0),  # past
        ("soon", None),
        ("-5", None),
        ("1.5", None),  # not delta-seconds per RFC 9110: backed off instead
        (None, None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_total": 0},
        {"backoff_base": -1},
        {"backoff_base": 5, "backoff_cap": 1},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
