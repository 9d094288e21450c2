"""Loading ``spec/``: each machine is a native python-statemachine YAML document plus a sidecar.

``spec/<name>.yaml`` is the statechart itself, in the format python-statemachine loads
(``statemachine.io.load``), so the reference interpreter reads exactly the file we ship.
``spec/<name>.meta.yaml`` holds what that format cannot: the meaning of every guard, event,
effect and state, per-state invariants, guard constraints, and each effect's declared change to
the abstract fields. :class:`MachineSpec` joins the two into one typed view that the compiler,
the checker, the explorer and the diagram writer all share.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from onemount.statemachine import guardexpr
from onemount.statemachine.guardexpr import GuardExpr

#: Where the declarations live: ``ONEMOUNT_SPEC_DIR`` or the ``spec/`` folder of the checkout.
DEFAULT_SPEC_DIR = Path(
    os.environ.get("ONEMOUNT_SPEC_DIR", Path(__file__).resolve().parents[2] / "spec")
)


class SpecError(ValueError):
    """A document or sidecar that cannot even be read as a machine."""


@dataclass(frozen=True)
class TransitionSpec:
    """One declared transition. ``index`` is its position among the source state's transitions."""

    source: str
    event: str
    target: str
    guard: GuardExpr
    effects: tuple[str, ...]
    index: int
    internal: bool = False

    @property
    def label(self) -> str:
        guard = "" if self.guard.source == "true" else f" [{self.guard.source}]"
        return f"{self.source} --{self.event}{guard}--> {self.target}"


@dataclass(frozen=True)
class EffectSpec:
    name: str
    meaning: str
    sets: Mapping[str, bool]


@dataclass(frozen=True)
class EventSpec:
    name: str
    meaning: str
    requires: GuardExpr


@dataclass(frozen=True)
class MachineSpec:
    """A machine as declared: the statechart document joined with its sidecar."""

    name: str
    description: str
    path: Path
    document_text: str
    states: tuple[str, ...]
    initial: str
    final_states: frozenset[str]
    transitions: tuple[TransitionSpec, ...]
    guards: Mapping[str, str]
    constraints: tuple[GuardExpr, ...]
    events: Mapping[str, EventSpec]
    effects: Mapping[str, EffectSpec]
    fields: Mapping[str, str]
    state_meanings: Mapping[str, str]
    state_invariants: Mapping[str, tuple[GuardExpr, ...]]
    invariants: tuple[GuardExpr, ...]
    bindings: str | None

    @property
    def used_events(self) -> frozenset[str]:
        return frozenset(t.event for t in self.transitions)

    @property
    def used_guards(self) -> frozenset[str]:
        return frozenset(name for t in self.transitions for name in t.guard.names)

    @property
    def used_effects(self) -> frozenset[str]:
        return frozenset(e for t in self.transitions for e in t.effects)

    def outgoing(self, state: str) -> tuple[TransitionSpec, ...]:
        return tuple(t for t in self.transitions if t.source == state)

    def library_class(self) -> type[Any]:
        """The machine as python-statemachine builds it from the same document text.

        StateChart defaults are switched to StateMachine semantics (a refused event raises,
        an exception in a callback propagates) so that the reference interpreter cannot
        silently swallow a disagreement.
        """
        from statemachine.io import load

        loaded = load(self.document_text, format="yaml", name=f"{self.name}_reference")
        return type(
            f"{self.name.title()}Reference",
            (loaded,),
            {"allow_event_without_transition": False, "catch_errors_as_events": False},
        )


def machine_names(spec_dir: Path = DEFAULT_SPEC_DIR) -> tuple[str, ...]:
    """The machines declared in ``spec_dir``: every ``<name>.yaml`` that has a sidecar."""
    return tuple(
        sorted(
            p.name.removesuffix(".yaml")
            for p in spec_dir.glob("*.yaml")
            if not p.name.endswith(".meta.yaml")
        )
    )


def load_spec(name: str, spec_dir: Path = DEFAULT_SPEC_DIR) -> MachineSpec:
    """Read ``<name>.yaml`` and ``<name>.meta.yaml`` from ``spec_dir``."""
    path = spec_dir / f"{name}.yaml"
    meta_path = spec_dir / f"{name}.meta.yaml"
    try:
        text = path.read_text()
        meta_text = meta_path.read_text()
    except OSError as exc:
        raise SpecError(f"{name}: {exc}") from exc
    return parse_spec(name, text, meta_text, path)


@cache
def default_spec(name: str) -> MachineSpec:
    """The shipped declaration of ``name``, parsed once per process."""
    return load_spec(name)


def parse_spec(name: str, text: str, meta_text: str, path: Path) -> MachineSpec:
    """Join a statechart document and its sidecar, both given as YAML text."""
    document = _mapping(_yaml(text, f"{path}"), f"{path}")
    meta = _mapping(_yaml(meta_text, f"{path} sidecar"), f"{path} sidecar")
    states_doc = _mapping(document.get("states"), f"{path}: states")

    states = tuple(states_doc)
    initial = [s for s, d in states_doc.items() if (d or {}).get("initial")]
    if len(initial) != 1:
        raise SpecError(f"{name}: exactly one initial state is required, found {initial}")
    finals = frozenset(s for s, d in states_doc.items() if (d or {}).get("final"))

    transitions: list[TransitionSpec] = []
    for source, state_doc in states_doc.items():
        for index, item in enumerate((state_doc or {}).get("transitions") or []):
            item = _mapping(item, f"{name}: a transition of {source}")
            try:
                guard = guardexpr.conjunction(item.get("cond"), item.get("unless"))
            except guardexpr.GuardSyntaxError as exc:
                raise SpecError(f"{name}: {source}: {exc}") from exc
            effects = item.get("on") or []
            transitions.append(
                TransitionSpec(
                    source=source,
                    event=str(item.get("event")),
                    target=str(item.get("target")),
                    guard=guard,
                    effects=tuple(effects if isinstance(effects, list) else [effects]),
                    index=index,
                    internal=bool(item.get("internal", False)),
                )
            )

    def expr(text_value: object, where: str) -> GuardExpr:
        try:
            return guardexpr.parse(str(text_value))
        except guardexpr.GuardSyntaxError as exc:
            raise SpecError(f"{name}: {where}: {exc}") from exc

    events = {
        event: EventSpec(
            event,
            str((body or {}).get("meaning", "")),
            expr((body or {}).get("requires", "true"), f"event {event} requires"),
        )
        for event, body in _mapping(meta.get("events") or {}, "events").items()
    }
    effects = {
        effect: EffectSpec(
            effect,
            str((body or {}).get("meaning", "")),
            {str(k): bool(v) for k, v in ((body or {}).get("sets") or {}).items()},
        )
        for effect, body in _mapping(meta.get("effects") or {}, "effects").items()
    }
    state_meta = _mapping(meta.get("states") or {}, "states")
    return MachineSpec(
        name=name,
        description=str(document.get("description", "")).strip(),
        path=path,
        document_text=text,
        states=states,
        initial=initial[0],
        final_states=finals,
        transitions=tuple(transitions),
        guards={str(k): str(v) for k, v in (meta.get("guards") or {}).items()},
        constraints=tuple(expr(c, "constraint") for c in meta.get("constraints") or []),
        events=events,
        effects=effects,
        fields={str(k): str(v) for k, v in (meta.get("fields") or {}).items()},
        state_meanings={s: str((d or {}).get("meaning", "")) for s, d in state_meta.items()},
        state_invariants={
            s: tuple(expr(i, f"invariant of {s}") for i in (d or {}).get("invariants") or [])
            for s, d in state_meta.items()
        },
        invariants=tuple(expr(i, "invariant") for i in meta.get("invariants") or []),
        bindings=meta.get("bindings"),
    )


class _SpecLoader(yaml.SafeLoader):
    """``safe_load`` without YAML 1.1's ``on``/``off``/``yes``/``no`` booleans.

    The transition key ``on`` (the effects) would otherwise read as ``True``; python-statemachine's
    own YAML reader restricts the bool resolver the same way, so both read the same document.
    """


_SpecLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool" or first in "tTfF"
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml(text: str, where: str) -> object:
    try:
        return yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: not valid YAML: {exc}") from exc


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, found {type(value).__name__}")
    return copy.deepcopy(value)
