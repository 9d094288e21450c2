"""Exhaustive bounded exploration of the shipped item machine: every path, every valuation."""

from __future__ import annotations

import pytest

from onemount.statemachine import default_spec
from onemount.statemachine.explore import explore

pytestmark = pytest.mark.model


def test_every_path_of_the_item_machine_is_safe(capsys: pytest.CaptureFixture[str]) -> None:
    spec = default_spec("item")
    report = explore(spec, depth=16)
    with capsys.disabled():
        print(f"\nitem machine: {report.summary()}")
    assert report.ok, "\n".join(c.describe() for c in report.counterexamples.values())
    assert report.fixpoint and report.deepest >= 8
    uncovered = [t.label for t in spec.transitions if (t.source, t.index) not in report.covered]
    assert not uncovered, f"transitions no path takes: {uncovered}"
