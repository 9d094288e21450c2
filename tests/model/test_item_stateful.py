"""Random walks over the item machine, checked after every step (Hypothesis stateful test).

Each step is one move the world can make here, drawn by Hypothesis: an environment step of
:data:`onemount.statemachine.itemworld.ENV_EVENTS` (a pin, an open for writing, the server
applying our upload, somebody else's edit, another item arriving under our name), or a spec
event with one of the guard valuations the world presents for it (the guards are derived from
the world, so most events have one valuation or none). Events go through the compiled table
while a python-statemachine instance walks the same path; after every step the library agrees
on the target, the effects and their order (refusals included), and the safety properties of
:func:`onemount.statemachine.itemworld.check` hold. A failure prints the moves taken and
Hypothesis's reproduction blob; ``--hypothesis-seed`` replays a run.

The exhaustive exploration already visits every reachable node and is what finds a defect
several steps deep (with some forty moves on offer per step, a random walk almost never strings
together the five that make an echo). What the walk adds is the reference interpreter carried
along whole paths, with its own state rather than one restored per comparison as in the
agreement test, over paths longer than the exploration's depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from onemount.statemachine import compile_spec, default_spec, itemworld
from tests.model.reference import Reference

pytestmark = pytest.mark.model

SPEC = default_spec("item")
MACHINE = compile_spec(SPEC)
EVENTS = sorted(SPEC.used_events)


@dataclass(frozen=True)
class Move:
    """One thing that can happen next: an environment step, or an event with its guards."""

    event: str
    valuation: Mapping[str, bool] | None = None  # None: an environment step
    read: frozenset[str] = field(default=frozenset())  # the guards the candidates read

    def __repr__(self) -> str:
        if self.valuation is None:
            return f"({self.event})"
        shown = {k: v for k, v in sorted(self.valuation.items()) if k in self.read}
        return f"{self.event} {shown}" if shown else self.event

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis prints draws with IPython's protocol; show the short form there too."""
        printer.text(repr(self))


def moves(node: itemworld.Node) -> list[Move]:
    """Every move the world can make at ``node``, refused events included: the library must
    refuse those too."""
    found = [Move(env) for env in itemworld.ENV_EVENTS if itemworld.env_step(node, env)]
    for event in EVENTS:
        candidates = MACHINE.candidates(node.state, event)
        read = frozenset().union(*(t.guard.names for t in candidates))
        found.extend(Move(event, v, read) for v in itemworld.valuations(SPEC, node, event))
    return found


class ItemWalk(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.node = itemworld.initial_node(SPEC)
        self.reference = Reference(SPEC, SPEC.initial, {})
        self.path: list[str] = [SPEC.initial]

    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        options = moves(self.node)
        if not options:
            return  # REMOVED with nothing left to pin: the walk is over
        move = data.draw(st.sampled_from(options), label="move")
        if move.valuation is None:
            moved = itemworld.env_step(self.node, move.event)
            assert moved is not None
            self.node = moved
            self.path.append(repr(move))
            return
        valuation = dict(move.valuation)
        step = itemworld.step(SPEC, MACHINE, self.node, move.event, valuation)
        self.reference.set_guards(SPEC, valuation)
        expected = self.reference.send(move.event)
        where = " ".join(self.path)
        if step is None:
            assert expected.target is None, f"library accepted {move!r} the table refused: {where}"
            return
        assert step.transition is not None, f"{move!r} is ambiguous after {where}"
        assert (step.node.state, step.transition.effects) == (expected.target, expected.effects)
        self.path.append(step.describe())
        assert not step.violations, "\n".join(
            [f"{v.prop}: {v.detail}" for v in step.violations] + [f"path: {' '.join(self.path)}"]
        )
        self.node = step.node

    @invariant()
    def library_agrees_on_the_state(self) -> None:
        assert self.reference.model.state == self.node.state

    @invariant()
    def removed_accepts_nothing(self) -> None:
        if self.node.state in SPEC.final_states:
            assert not any(MACHINE.accepts(self.node.state, e) for e in EVENTS)


# No deadline: an example is 40 steps of pure computation whose time only says how loaded the
# machine is (two cores shared with the rest of the suite), so a deadline would only add flakes.
ItemWalk.TestCase.settings = settings(
    ItemWalk.TestCase.settings, max_examples=150, stateful_step_count=40, deadline=None
)
TestItemWalk = ItemWalk.TestCase
