"""Random walks over the item machine, checked after every step (Hypothesis stateful test).

Each rule fires one event with guard values drawn by Hypothesis (or changes the environment:
pin, open), through the compiled table, while a python-statemachine instance walks the same path.
After every step: the library agrees on the state, and the safety properties of
:mod:`onemount.statemachine.itemworld` hold (unsent bytes never discarded, virtual stays
HYDRATED, REMOVED is final, the declared invariants hold). A failure prints the event sequence
and Hypothesis's reproduction blob; ``--hypothesis-seed`` replays a run.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from onemount.statemachine import compile_spec, default_spec, itemworld
from tests.model.reference import Reference

pytestmark = pytest.mark.model

SPEC = default_spec("item")
MACHINE = compile_spec(SPEC)
EVENTS = sorted(SPEC.used_events)


class ItemWalk(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.node = itemworld.initial_node(SPEC)
        self.reference = Reference(SPEC, SPEC.initial, {})
        self.accepted = 0

    @precondition(lambda self: self.node.state not in SPEC.final_states)
    @rule(event=st.sampled_from(EVENTS), data=st.data())
    def fire(self, event: str, data: st.DataObject) -> None:
        options = list(itemworld.valuations(SPEC, self.node, event))
        if not options:
            return  # the world cannot produce this event here
        valuation = data.draw(st.sampled_from(options), label="guards")
        step = itemworld.step(SPEC, MACHINE, self.node, event, valuation)
        self.reference.set_guards(SPEC, valuation)
        expected = self.reference.send(event)
        if step is None:
            assert expected.target is None, f"library accepted {event} the table refused"
            return
        assert not step.violations, "; ".join(f"{v.prop}: {v.detail}" for v in step.violations)
        assert step.transition is not None
        assert (step.node.state, step.transition.effects) == (expected.target, expected.effects)
        self.node = step.node
        self.accepted += 1

    @rule(change=st.sampled_from(itemworld.ENV_EVENTS))
    def environment(self, change: str) -> None:
        moved = itemworld.env_step(self.node, change)
        if moved is not None:
            self.node = moved

    @invariant()
    def library_agrees_on_the_state(self) -> None:
        assert self.reference.model.state == self.node.state

    @invariant()
    def removed_accepts_nothing(self) -> None:
        if self.node.state in SPEC.final_states:
            assert not any(MACHINE.accepts(self.node.state, e) for e in EVENTS)


ItemWalk.TestCase.settings = settings(
    ItemWalk.TestCase.settings, max_examples=150, stateful_step_count=40
)
TestItemWalk = ItemWalk.TestCase
