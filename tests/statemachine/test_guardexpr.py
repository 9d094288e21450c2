"""Guard expressions accept only boolean logic over names: anything else is a spec error."""

from __future__ import annotations

import itertools

import pytest

from onemount.statemachine import guardexpr


@pytest.mark.parametrize(
    "text",
    ["pinned()", "row.pinned", "size > 3", "__import__('os')", "pinned if x else y", "1", "'a'"],
)
def test_anything_but_boolean_logic_over_names_is_refused(text: str) -> None:
    with pytest.raises(guardexpr.GuardSyntaxError):
        guardexpr.parse(text)


def test_unparsable_text_is_a_clear_error() -> None:
    with pytest.raises(guardexpr.GuardSyntaxError, match="is not an expression"):
        guardexpr.parse("pinned and")


def test_evaluation_matches_python_semantics_for_every_valuation() -> None:
    text = "not a and (b or c) and not (a or false)"
    guard = guardexpr.parse(text)
    assert guard.names == {"a", "b", "c"}
    for a, b, c in itertools.product((False, True), repeat=3):
        assert guard({"a": a, "b": b, "c": c}) == ((not a) and (b or c) and not (a or False))


def test_cond_and_unless_combine_as_cond_and_not_unless() -> None:
    guard = guardexpr.conjunction("has_local_changes and pinned", "is_virtual")
    assert guard.source == "(has_local_changes and pinned) and not is_virtual"
    assert guard({"has_local_changes": True, "pinned": True, "is_virtual": False})
    assert not guard({"has_local_changes": True, "pinned": True, "is_virtual": True})
    assert guardexpr.conjunction(None, None)({}) is True


def test_names_that_contain_the_literals_are_not_rewritten() -> None:
    guard = guardexpr.parse("is_true_copy and not falsehood")
    assert guard.names == {"is_true_copy", "falsehood"}
    assert guard({"is_true_copy": True, "falsehood": False})


def test_a_missing_guard_value_is_loud() -> None:
    with pytest.raises(KeyError):
        guardexpr.parse("pinned")({})
