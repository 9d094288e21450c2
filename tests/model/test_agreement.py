"""The compiled table and python-statemachine agree on every (state, event, guard valuation).

This is what keeps "declared once" honest: the runtime never runs the library, so a compiler
bug would otherwise go unnoticed. Refusals must agree too, and so must the effects and their order.
"""

from __future__ import annotations

import itertools

import pytest

from onemount.statemachine import InvalidTransition, compile_spec, default_spec, machine_names
from tests.model.reference import reference_outcome

pytestmark = pytest.mark.model


@pytest.mark.parametrize("name", machine_names())
def test_table_agrees_with_python_statemachine(name: str) -> None:
    spec = default_spec(name)
    machine = compile_spec(spec)
    compared = 0
    for state in spec.states:
        if state in spec.final_states:
            continue
        for event in sorted(spec.used_events):
            names = sorted(set().union(*(t.guard.names for t in machine.candidates(state, event))))
            for values in itertools.product((False, True), repeat=len(names)):
                valuation = dict.fromkeys(spec.guards, False) | dict(
                    zip(names, values, strict=True)
                )
                if not all(constraint(valuation) for constraint in spec.constraints):
                    continue
                expected = reference_outcome(spec, state, event, valuation)
                got: tuple[str | None, tuple[str, ...]]
                try:
                    transition = machine.resolve(state, event, valuation)
                    got = (transition.target, transition.effects)
                except InvalidTransition as exc:
                    assert exc.reason != "ambiguous", str(exc)
                    got = (None, ())
                assert got == (expected.target, expected.effects), (
                    f"{name}: {event} in {state} with {valuation}: "
                    f"table says {got}, python-statemachine says {expected}"
                )
                compared += 1
    assert compared > len(spec.transitions)


def test_final_states_accept_nothing() -> None:
    for name in machine_names():
        spec = default_spec(name)
        machine = compile_spec(spec)
        for state in spec.final_states:
            assert not any(machine.accepts(state, event) for event in spec.used_events)
