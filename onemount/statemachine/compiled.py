"""The runtime form of a machine: a frozen ``(state, event) -> candidates`` table.

python-statemachine interprets a transition in about 200 µs; the runtime fires one per delta
item, per write and per upload, so it runs this table instead (a dict lookup plus the guards
the candidates name). The two are held equal by the agreement test in ``tests/model``: for every
state, event and valuation of the guards involved they give the same target or both refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from onemount.statemachine.spec import MachineSpec, TransitionSpec, default_spec

_NO_GUARDS: Mapping[str, bool] = MappingProxyType({})


class InvalidTransition(Exception):
    """``fire`` found no single transition: none declared, none enabled, or more than one.

    ``reason`` is ``"undeclared"`` (the state never accepts the event), ``"refused"`` (it does,
    but every guard said no) or ``"ambiguous"`` (several guards said yes, a spec defect that
    ``onemount spec check`` reports before it can happen at runtime).
    """

    def __init__(self, machine: str, state: str, event: str, reason: str, detail: str = "") -> None:
        self.machine = machine
        self.state = state
        self.event = event
        self.reason = reason
        message = f"{machine}: event {event!r} in state {state}: {reason}"
        super().__init__(f"{message} ({detail})" if detail else message)


@dataclass(frozen=True)
class CompiledMachine:
    """A machine compiled for the hot path. Build it with :func:`compile_spec`."""

    name: str
    initial: str
    states: frozenset[str]
    final_states: frozenset[str]
    events: frozenset[str]
    table: Mapping[tuple[str, str], tuple[TransitionSpec, ...]]

    def candidates(self, state: str, event: str) -> tuple[TransitionSpec, ...]:
        """The transitions declared for ``event`` in ``state``, in document order."""
        return self.table.get((state, event), ())

    def resolve(
        self, state: str, event: str, guards: Mapping[str, bool] = _NO_GUARDS
    ) -> TransitionSpec:
        """The single enabled transition, with its effects; raises :class:`InvalidTransition`.

        ``guards`` is read only for the names the candidates use, so a caller may pass a lazy
        mapping that computes each guard on first access.
        """
        candidates = self.table.get((state, event))
        if candidates is None:
            raise InvalidTransition(self.name, state, event, "undeclared")
        if len(candidates) == 1:
            only = candidates[0]
            if only.guard(guards):
                return only
            raise InvalidTransition(self.name, state, event, "refused", only.label)
        enabled = [t for t in candidates if t.guard(guards)]
        if len(enabled) == 1:
            return enabled[0]
        reason = "refused" if not enabled else "ambiguous"
        labels = "; ".join(t.label for t in (enabled or candidates))
        raise InvalidTransition(self.name, state, event, reason, labels)

    def fire(self, state: str, event: str, guards: Mapping[str, bool] = _NO_GUARDS) -> str:
        """The target state of ``event`` in ``state``; raises :class:`InvalidTransition`."""
        return self.resolve(state, event, guards).target

    def accepts(self, state: str, event: str) -> bool:
        """Whether ``state`` declares ``event`` at all (guards not consulted)."""
        return (state, event) in self.table


def compile_spec(spec: MachineSpec) -> CompiledMachine:
    """Freeze a declared machine into its lookup table."""
    table: dict[tuple[str, str], list[TransitionSpec]] = {}
    for transition in spec.transitions:
        table.setdefault((transition.source, transition.event), []).append(transition)
    return CompiledMachine(
        name=spec.name,
        initial=spec.initial,
        states=frozenset(spec.states),
        final_states=spec.final_states,
        events=spec.used_events,
        table=MappingProxyType({key: tuple(value) for key, value in table.items()}),
    )


@cache
def compiled(name: str) -> CompiledMachine:
    """The shipped machine ``name`` (``item``, ``connectivity``, ...), compiled once."""
    return compile_spec(default_spec(name))
