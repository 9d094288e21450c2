"""The shared shape of a benchmark figure and the timing helpers every benchmark uses.

A figure is never judged against a fixed number: machines differ, and a timed assertion on a
shared 2-core runner is flaky by construction. Each figure carries its own baseline, measured
in the same process moments before or after (a dict lookup, raw APSW, raw httpx, hashlib), and
the ratio between the two is what a reader compares across runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure and the baseline it is compared with.

    ``unit`` names what ``value`` counts (``"ns/op"``, ``"MB/s"``, ``"items/s"``).
    ``higher_is_better`` says which way the ratio reads: the ratio is always
    ``value / baseline`` for rates and ``baseline / value`` for costs, so that a ratio
    above 1 always means "faster than the baseline".
    """

    name: str
    unit: str
    value: float
    baseline_name: str
    baseline_value: float
    higher_is_better: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.value / self.baseline_value if self.baseline_value else float("inf")
        return self.baseline_value / self.value if self.value else float("inf")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def best_time(func: Callable[[], object], *, number: int, repeat: int = 5) -> float:
    """Seconds per call of ``func``: the best of ``repeat`` runs of ``number`` calls.

    The minimum, not the mean, because noise on a shared machine only ever adds time.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        best = min(best, time.perf_counter() - start)
    return best / number


def time_once(func: Callable[[], object]) -> float:
    """Wall-clock seconds of a single call, for measurements too large to repeat."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start
