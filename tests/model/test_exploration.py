"""Exhaustive exploration of the shipped item machine: every path, every valuation, to a fixpoint.

The exploration runs until a level adds no new (state, fields, world) node, so every node the
world can reach has been tried with every event and environment step; the bound is only a
guard against a world that stopped being finite. The figures are printed so a change of the
world or the spec shows up in the test log (12,098 nodes, fixpoint at depth 17, 116 of 116
transitions on the day the richer world landed).
"""

from __future__ import annotations

import pytest

from onemount.statemachine import default_spec
from onemount.statemachine.explore import explore

pytestmark = pytest.mark.model

#: Far beyond the fixpoint (depth 17); reaching it without a fixpoint means the world grew.
BOUND = 40


def test_every_path_of_the_item_machine_is_safe(capsys: pytest.CaptureFixture[str]) -> None:
    spec = default_spec("item")
    report = explore(spec, depth=BOUND)
    with capsys.disabled():
        print(f"\nitem machine: {report.summary()}")
    assert report.ok, "\n".join(c.describe() for c in report.counterexamples.values())
    assert report.fixpoint, f"no fixpoint within {BOUND} steps: the world is no longer finite"
    uncovered = [t.label for t in spec.transitions if (t.source, t.index) not in report.covered]
    assert not uncovered, f"transitions no path takes: {uncovered}"
