"""Shared test configuration.

Hypothesis profiles: ``ci`` (chosen automatically when CI is set) derandomizes and prints the
reproduction blob of every failure; ``dev`` keeps the example database so a failure found once is
replayed first next time. ``nightly`` is for long runs: ``pytest --hypothesis-profile=nightly``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile(
    "nightly", max_examples=2000, stateful_step_count=200, deadline=None, print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
