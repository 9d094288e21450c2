"""The system run's tiers (``ONEMOUNT_MODEL_TIER``) and the figures a run prints.

``default`` is make test's: a budget that fits the five minutes ``pytest -m model`` may take.
``long`` and ``slow`` are run by hand (a nightly, a release) and take as long as they need, so
they are not held to the suite's per-test timeout (600 s in pyproject.toml): a long run cut
off by it reports a timeout where no check failed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis.stateful import RuleBasedStateMachine

TIER = os.environ.get("ONEMOUNT_MODEL_TIER", "default")

M = TypeVar("M", bound=RuleBasedStateMachine)


def untimed() -> list[pytest.MarkDecorator]:
    """Marks for a tier run by hand: no per-test timeout (0 switches pytest-timeout off)."""
    return [] if TIER == "default" else [pytest.mark.timeout(0)]


@dataclass
class Figures:
    """What a run did: examples started and steps run (each example's start included)."""

    examples: int = 0
    steps: int = 0

    def __str__(self) -> str:
        return f"{self.examples} examples, {self.steps} steps"


def counted(machine: type[M], figures: Figures) -> type[M]:
    """``machine``, counting into ``figures``.

    Hypothesis checks the invariants once when an example starts and then after every step,
    so every check but an example's first is one step.
    """

    class Counted(machine):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            figures.examples += 1
            self._checked = False
            super().__init__()

        def check_invariants(self, *args: Any, **kwargs: Any) -> None:
            if self._checked:
                figures.steps += 1
            self._checked = True
            super().check_invariants(*args, **kwargs)

    Counted.__name__ = Counted.__qualname__ = machine.__name__
    return Counted
