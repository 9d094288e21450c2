"""Exhaustive bounded exploration of the item machine.

Breadth-first over (state, fields, world) from ABSENT, trying every event (and environment
step) with every guard valuation the world can present, to a fixed depth. Every accepted step is
checked against the safety properties of :mod:`.itemworld`; because the search is breadth-first,
the first path that reaches a violation is a shortest counterexample.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from onemount.statemachine import itemworld
from onemount.statemachine.compiled import CompiledMachine, compile_spec
from onemount.statemachine.itemworld import Node, Violation
from onemount.statemachine.spec import MachineSpec


@dataclass(frozen=True)
class Counterexample:
    violation: Violation
    path: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.violation.prop}: {self.violation.detail}\n    path: {' '.join(self.path)}"


@dataclass
class Report:
    depth: int
    nodes: int = 0
    steps: int = 0
    covered: set[tuple[str, int]] = field(default_factory=set)
    declared: int = 0
    counterexamples: dict[str, Counterexample] = field(default_factory=dict)
    #: True when no new node appeared at the last level: every reachable node was checked.
    fixpoint: bool = False
    deepest: int = 0

    @property
    def ok(self) -> bool:
        return not self.counterexamples

    def summary(self) -> str:
        reach = (
            f"the whole reachable space (fixpoint at depth {self.deepest})"
            if self.fixpoint
            else f"depth {self.depth} (not exhausted)"
        )
        return (
            f"explored {self.nodes} distinct (state, fields, world) nodes and {self.steps} "
            f"accepted steps covering {reach}; {len(self.covered)} of "
            f"{self.declared} declared transitions taken; "
            f"{len(self.counterexamples)} property violation(s)"
        )


def explore(spec: MachineSpec, depth: int = 40) -> Report:
    """Explore every path of at most ``depth`` steps, keeping one shortest counterexample per
    violated property."""
    machine = compile_spec(spec)
    events = sorted(spec.used_events)
    report = Report(depth=depth, declared=len(spec.transitions))
    start = itemworld.initial_node(spec)
    paths: dict[Node, tuple[str, ...]] = {start: (start.state,)}
    frontier: deque[tuple[Node, int]] = deque([(start, 0)])
    exhausted = True
    while frontier:
        node, level = frontier.popleft()
        report.deepest = max(report.deepest, level)
        if level == depth:
            exhausted = False
            continue
        for successor, label, violations in _successors(spec, machine, node, events, report):
            path = (*paths[node], label)
            for violation in violations:
                report.counterexamples.setdefault(violation.prop, Counterexample(violation, path))
            if violations or successor in paths:
                continue
            paths[successor] = path
            frontier.append((successor, level + 1))
    report.nodes = len(paths)
    report.fixpoint = exhausted
    return report


def _successors(
    spec: MachineSpec, machine: CompiledMachine, node: Node, events: list[str], report: Report
) -> Iterator[tuple[Node, str, tuple[Violation, ...]]]:
    for env in itemworld.ENV_EVENTS:
        moved = itemworld.env_step(node, env)
        if moved is not None:
            yield moved, f"({env})", ()
    for event in events:
        for valuation in itemworld.valuations(spec, node, event):
            taken = itemworld.step(spec, machine, node, event, valuation)
            if taken is None:
                continue
            report.steps += 1
            if taken.transition is not None:
                report.covered.add((taken.transition.source, taken.transition.index))
            yield taken.node, taken.describe(), taken.violations
