"""``onemount spec check``: everything that can be wrong with a declaration, found before runtime.

Structural checks apply to every machine: the reference interpreter must load the document;
states, guards, effects and events must be declared in the sidecar and used in the document;
every state must be reachable and every non-final state must have a way out; every transition
must be enabled by some valuation and no valuation may enable two (determinism); every guard and
effect must have a runtime implementation in the module the sidecar names. The item machine is
also explored exhaustively against its safety properties (:mod:`.explore`).
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from onemount.statemachine import itemworld
from onemount.statemachine.explore import Report, explore
from onemount.statemachine.spec import MachineSpec, TransitionSpec

_ProblemFactory = Callable[[str, str], "Problem"]


@dataclass(frozen=True)
class Problem:
    machine: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.machine}: {self.kind}: {self.message}"


@dataclass
class CheckResult:
    problems: list[Problem]
    exploration: Report | None = None
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def check_machine(spec: MachineSpec, *, explore_depth: int = 40) -> CheckResult:
    problems = list(_structural(spec))
    result = CheckResult(problems)
    # The explorer evaluates every guard and effect by name: run it only on a document whose
    # vocabulary is sound (a missing runtime binding does not affect the abstract model).
    blocking = [p for p in problems if p.kind != "no implementation"]
    if spec.name == "item" and blocking:
        result.skipped = "exploration skipped until the problems above are fixed"
    elif spec.name == "item" and (unmodelled := itemworld.unmodelled_effects(spec)):
        problems.extend(
            Problem(spec.name, "unmodelled effect", f"{name} has no meaning in the item world")
            for name in unmodelled
        )
        result.skipped = "exploration skipped until every effect is modelled"
    elif spec.name == "item":
        report = explore(spec, depth=explore_depth)
        result.exploration = report
        problems.extend(
            Problem(spec.name, "safety", example.describe())
            for example in report.counterexamples.values()
        )
    return result


def _structural(spec: MachineSpec) -> Iterator[Problem]:
    def problem(kind: str, message: str) -> Problem:
        return Problem(spec.name, kind, message)

    try:
        spec.library_class()
    except Exception as exc:  # any refusal of the reference interpreter is a finding
        yield problem("not loadable", f"python-statemachine refuses the document: {exc}")

    states = set(spec.states)
    for transition in spec.transitions:
        if transition.target not in states:
            yield problem("unknown state", f"{transition.label}: no state {transition.target}")
    described = set(spec.state_meanings)
    for state in sorted(states - described):
        yield problem("undocumented", f"state {state} has no entry in the sidecar")
    for state in sorted(described - states):
        yield problem("unknown state", f"the sidecar describes {state}, which the document lacks")

    reachable = _reachable(spec)
    for state in spec.states:
        if state not in reachable:
            yield problem("unreachable state", f"{state} cannot be reached from {spec.initial}")
        outgoing = spec.outgoing(state)
        if state in spec.final_states and outgoing:
            yield problem("final with exits", f"final state {state} has outgoing transitions")
        if state not in spec.final_states and not any(t.target != state for t in outgoing):
            yield problem(
                "no way out", f"non-final state {state} has no transition to another state"
            )

    yield from _vocabulary(spec, problem)
    yield from _determinism(spec, problem)
    yield from _bindings(spec, problem)


def _reachable(spec: MachineSpec) -> set[str]:
    seen = {spec.initial}
    todo = [spec.initial]
    while todo:
        for transition in spec.outgoing(todo.pop()):
            if transition.target not in seen:
                seen.add(transition.target)
                todo.append(transition.target)
    return seen


def _vocabulary(spec: MachineSpec, problem: _ProblemFactory) -> Iterator[Problem]:
    for kind, used, declared in (
        ("guard", spec.used_guards, set(spec.guards)),
        ("effect", spec.used_effects, set(spec.effects)),
        ("event", spec.used_events, set(spec.events)),
    ):
        for name in sorted(used - declared):
            yield problem(f"undeclared {kind}", f"{name} is used but not declared in the sidecar")
        for name in sorted(declared - used):
            what = "no state accepts it" if kind == "event" else "no transition uses it"
            yield problem(f"unused {kind}", f"{name} is declared but {what}")
    vocabulary = set(spec.fields) | set(spec.guards)
    expressions = [*spec.invariants, *spec.constraints]
    expressions += [i for invariants in spec.state_invariants.values() for i in invariants]
    expressions += [e.requires for e in spec.events.values()]
    for expression in expressions:
        for name in sorted(expression.names - vocabulary):
            yield problem(
                "unknown name", f"{expression.source!r} reads {name}, not a field or guard"
            )
    for effect in spec.effects.values():
        for name in sorted(set(effect.sets) - set(spec.fields)):
            yield problem(
                "unknown field", f"effect {effect.name} sets {name}, not a declared field"
            )


def _determinism(spec: MachineSpec, problem: _ProblemFactory) -> Iterator[Problem]:
    groups: dict[tuple[str, str], list[TransitionSpec]] = {}
    for transition in spec.transitions:
        groups.setdefault((transition.source, transition.event), []).append(transition)
    for (state, event), candidates in groups.items():
        names = sorted(set().union(*(t.guard.names for t in candidates)))
        enabled_ever: set[int] = set()
        for valuation in _valuations(names, spec):
            enabled = [t for t in candidates if t.guard(valuation)]
            enabled_ever.update(t.index for t in enabled)
            if len(enabled) > 1:
                shown = ", ".join(f"{k}={v}" for k, v in valuation.items())
                yield problem(
                    "ambiguous",
                    f"{event} in {state} with {shown or 'no guards'} enables "
                    + " and ".join(t.label for t in enabled),
                )
                break
        for transition in candidates:
            if transition.index not in enabled_ever:
                yield problem("dead transition", f"{transition.label}: its guard is never true")


def _valuations(names: list[str], spec: MachineSpec) -> Iterator[dict[str, bool]]:
    for values in itertools.product((False, True), repeat=len(names)):
        valuation = dict(zip(names, values, strict=True))
        full = dict.fromkeys(spec.guards, False) | valuation
        if all(
            constraint(full) for constraint in spec.constraints if constraint.names <= set(names)
        ):
            yield valuation


def _bindings(spec: MachineSpec, problem: _ProblemFactory) -> Iterator[Problem]:
    needs = {"GUARDS": spec.used_guards, "EFFECTS": spec.used_effects}
    if spec.bindings is None:
        for kind, names in needs.items():
            if names:
                yield problem(
                    "no implementation",
                    f"no bindings module, yet {kind.lower()} {', '.join(sorted(names))} are used",
                )
        return
    try:
        module = importlib.import_module(spec.bindings)
    except ImportError as exc:
        yield problem(
            "no implementation", f"bindings module {spec.bindings} cannot be imported: {exc}"
        )
        return
    for kind, names in needs.items():
        table = getattr(module, kind, None)
        if not isinstance(table, Mapping):
            yield problem("no implementation", f"{spec.bindings} has no {kind} mapping")
            continue
        for name in sorted(names - set(table)):
            yield problem(
                "no implementation",
                f"{kind.lower()[:-1]} {name} has no implementation in {spec.bindings}",
            )
