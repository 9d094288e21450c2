"""Drive python-statemachine, the reference interpreter, the way the compiled table is driven.

A model object carries one attribute per guard and one recording method per effect, so the
library evaluates the same ``cond``/``unless`` text against the same valuation and calls the
same ``on`` actions, in its own order, that the compiled table returns.

Building the library's class from the document costs about 45 ms (it parses and validates the
YAML); an instance costs about 3 ms. The agreement test makes hundreds of instances and the
stateful walk one per example, so the classes are built once per document text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statemachine.exceptions import TransitionNotAllowed

from onemount.statemachine import MachineSpec

_CLASSES: dict[tuple[str, str], tuple[type[Any], type[Any]]] = {}


@dataclass(frozen=True)
class Outcome:
    target: str | None  # None: refused
    effects: tuple[str, ...]


def model_class(spec: MachineSpec) -> type[Any]:
    """A model type with a recording method for every effect of ``spec``."""

    def recorder(name: str) -> Any:
        def effect(self: Any, *args: object, **kwargs: object) -> None:
            self.calls.append(name)

        effect.__name__ = name
        return effect

    namespace: dict[str, Any] = {name: recorder(name) for name in spec.effects}
    return type(f"{spec.name.title()}Model", (), namespace)


def _classes(spec: MachineSpec) -> tuple[type[Any], type[Any]]:
    """The library's machine class and the model class for ``spec``, built once per document.

    The key is the document text as well as the name, so a mutated copy of a spec (the
    mutation tests load several) never reuses the shipped one's class.
    """
    key = (spec.name, spec.document_text)
    if key not in _CLASSES:
        _CLASSES[key] = (spec.library_class(), model_class(spec))
    return _CLASSES[key]


class Reference:
    """One instance of the library's machine, restored at a given state."""

    def __init__(self, spec: MachineSpec, state: str, valuation: Mapping[str, bool]) -> None:
        machine_class, model = _classes(spec)
        self.model = model()
        self.model.calls = []
        self.model.state = state
        self.set_guards(spec, valuation)
        self.machine = machine_class(model=self.model)

    def set_guards(self, spec: MachineSpec, valuation: Mapping[str, bool]) -> None:
        for name in spec.guards:
            setattr(self.model, name, bool(valuation.get(name, False)))

    def send(self, event: str) -> Outcome:
        self.model.calls = []
        try:
            self.machine.send(event)
        except TransitionNotAllowed:
            return Outcome(None, ())
        return Outcome(self.model.state, tuple(self.model.calls))


def reference_outcome(
    spec: MachineSpec, state: str, event: str, valuation: Mapping[str, bool]
) -> Outcome:
    return Reference(spec, state, valuation).send(event)
