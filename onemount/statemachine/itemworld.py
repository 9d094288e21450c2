"""The item machine's world: what really happens to the bytes, judged independently of the spec.

The spec says which state an item moves to and which fields its effects change. This module
says, from the event alone, what happened in reality: are there local bytes the server does not
have (``unsent``)? Is the current content on this machine (``content_local``)? The safety
properties compare the two. A spec that lets an eviction, a remote change or a failed upload
take an item with unsent bytes anywhere those bytes are not kept is caught here, because the
world still says the bytes exist and the spec's state no longer holds them.

Both the exhaustive explorer (:mod:`.explore`) and the Hypothesis stateful test use
:func:`step`, so the properties are written once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from onemount.statemachine.compiled import CompiledMachine, InvalidTransition
from onemount.statemachine.spec import MachineSpec, TransitionSpec

#: Guards whose value the world does not determine: they describe the incoming change.
FREE_GUARDS = ("content_changed", "changed_during_upload", "has_unsent_descendants")
#: Events the user's own decision may use to drop unsent bytes.
USER_DISCARDS = frozenset({"local_deleted", "resolve_keep_remote"})
#: States that keep local bytes the server does not have.
RETAINING_STATES = frozenset({"DIRTY_LOCAL", "CONFLICT", "ERROR"})
#: Environment steps that are not spec events: they change what the guards read.
ENV_EVENTS = ("pin", "unpin", "open", "close")
CREATION_EVENTS = frozenset({"remote_appeared", "local_created", "virtual_created"})


@dataclass(frozen=True)
class World:
    """Facts about one item that hold regardless of what the spec records."""

    unsent: bool = False
    content_local: bool = False
    is_directory: bool = False
    is_virtual: bool = False
    pinned: bool = False
    open_handles: bool = False
    #: rmdir() succeeded locally, so the folder had no local children left.
    user_deleted: bool = False


@dataclass(frozen=True)
class Node:
    """A point of the exploration: the spec's state and fields, and the world."""

    state: str
    fields: frozenset[str]
    world: World


@dataclass(frozen=True)
class Violation:
    prop: str
    detail: str


@dataclass(frozen=True)
class Step:
    """One accepted move: the event, the guard values it was fired with, and the result."""

    event: str
    valuation: Mapping[str, bool]
    transition: TransitionSpec | None
    node: Node
    violations: tuple[Violation, ...]

    def describe(self) -> str:
        read = self.transition.guard.names if self.transition else frozenset()
        shown = {k: v for k, v in sorted(self.valuation.items()) if k in read}
        suffix = f" {shown}" if shown else ""
        return f"--{self.event}{suffix}--> {self.node.state}"


def initial_node(spec: MachineSpec) -> Node:
    return Node(spec.initial, frozenset(), World())


def valuations(spec: MachineSpec, node: Node, event: str) -> Iterator[dict[str, bool]]:
    """Every guard valuation the world can present for ``event`` at ``node``."""
    free = list(FREE_GUARDS)
    if node.state == spec.initial and event in CREATION_EVENTS:
        free.append("is_directory")
    for values in itertools.product((False, True), repeat=len(free)):
        valuation = guard_values(node)
        valuation.update(zip(free, values, strict=True))
        if event == "virtual_created":
            valuation["is_virtual"] = True
            valuation["is_directory"] = False
        if valuation["has_unsent_descendants"] and node.world.user_deleted:
            continue
        if all(c(valuation) for c in spec.constraints) and _requires(spec, event, node, valuation):
            yield valuation


def guard_values(node: Node) -> dict[str, bool]:
    """What the runtime's guards would read: the row's fields plus the live environment."""
    fields = node.fields
    return {
        "is_directory": node.world.is_directory,
        "is_virtual": "is_virtual" in fields,
        "pinned": node.world.pinned,
        "has_open_handles": node.world.open_handles,
        "has_local_changes": "has_local_changes" in fields,
        "exists_remotely": "exists_remotely" in fields,
        "content_changed": False,
        "changed_during_upload": False,
        "has_unsent_descendants": False,
    }


def _requires(spec: MachineSpec, event: str, node: Node, valuation: Mapping[str, bool]) -> bool:
    """Whether the world can produce ``event`` at all here (the sidecar's ``requires``)."""
    declared = spec.events.get(event)
    if declared is None:
        return True
    values = {name: name in node.fields for name in spec.fields}
    values.update(valuation)
    return declared.requires(values)


def env_step(node: Node, event: str) -> Node | None:
    """Apply an environment step; None when it cannot happen (pinning a virtual entry)."""
    world = node.world
    if event == "pin" and not world.pinned and not world.is_virtual:
        return replace(node, world=replace(world, pinned=True))
    if event == "unpin" and world.pinned:
        return replace(node, world=replace(world, pinned=False))
    if event == "open" and not world.open_handles and not world.is_directory:
        return replace(node, world=replace(world, open_handles=True))
    if event == "close" and world.open_handles:
        return replace(node, world=replace(world, open_handles=False))
    return None


def step(
    spec: MachineSpec, machine: CompiledMachine, node: Node, event: str, valuation: dict[str, bool]
) -> Step | None:
    """Fire ``event``; None when the spec refuses it (refusing is always safe)."""
    try:
        transition = machine.resolve(node.state, event, valuation)
    except InvalidTransition as exc:
        if exc.reason != "ambiguous":
            return None
        violation = Violation("deterministic", str(exc))
        return Step(event, valuation, None, node, (violation,))
    fields = set(node.fields)
    for effect in transition.effects:
        declared = spec.effects.get(effect)
        for name, value in (declared.sets if declared else {}).items():
            (fields.add if value else fields.discard)(name)
    if event in CREATION_EVENTS:
        # The kind is a fact of the world fixed at creation; the row records it.
        (fields.add if valuation["is_directory"] else fields.discard)("is_directory")
    after = Node(transition.target, frozenset(fields), _world_after(node.world, event, valuation))
    return Step(
        event, valuation, transition, after, tuple(check(spec, node, event, valuation, after))
    )


def _world_after(world: World, event: str, v: Mapping[str, bool]) -> World:
    """What the event does to the bytes in reality, whatever the spec records."""
    unsent, local = world.unsent, world.content_local
    if event == "remote_appeared":
        return replace(world, unsent=False, content_local=False, is_directory=v["is_directory"])
    if event == "local_created":
        return replace(world, unsent=True, content_local=True, is_directory=v["is_directory"])
    if event == "virtual_created":
        return replace(world, is_virtual=True, content_local=True)
    if event == "hydrate_succeeded":
        local = True
    elif event in {"local_modified", "local_overwritten"}:
        unsent, local = True, True
    elif event == "local_deleted":
        return replace(world, unsent=False, content_local=False, user_deleted=True)
    elif event == "resolve_keep_remote":
        unsent, local = False, False
    elif event == "resolve_keep_both" and v["exists_remotely"]:
        unsent, local = False, False  # the bytes now belong to the conflict copy
    elif event == "upload_succeeded" and not v["changed_during_upload"]:
        unsent = False
    elif event == "remote_changed" and v["content_changed"] and not unsent:
        local = False
    elif event == "remote_deleted":
        if world.is_directory and v["has_unsent_descendants"]:
            unsent = True  # the folder must be created again to hold them
        elif not unsent:
            local = False
    elif event == "evict":
        local = False
    return replace(world, unsent=unsent, content_local=local)


def check(
    spec: MachineSpec, before: Node, event: str, v: Mapping[str, bool], after: Node
) -> Iterator[Violation]:
    """The safety properties of one accepted step."""
    world, state, fields = after.world, after.state, after.fields
    if before.state in spec.final_states:
        yield Violation("removed is final", f"{before.state} accepted {event}")
    if world.unsent and event not in USER_DISCARDS:
        kept = (
            state in RETAINING_STATES
            and "has_local_changes" in fields
            and ("content_cached" in fields or world.is_directory)
        )
        if not kept:
            yield Violation(
                "unsent local bytes are never discarded",
                f"{event} took an item with unsent local changes to {state}"
                f" (fields: {', '.join(sorted(fields)) or 'none'})",
            )
    if "has_local_changes" in fields and not world.unsent:
        yield Violation(
            "the local-change flag matches reality",
            f"{state} records local changes the server already has",
        )
    if world.is_virtual and state != "HYDRATED":
        yield Violation("virtual stays HYDRATED", f"{event} moved a virtual entry to {state}")
    if (
        state == "HYDRATED"
        and not world.is_directory
        and not world.is_virtual
        and not world.content_local
    ):
        yield Violation(
            "HYDRATED only with verified bytes",
            f"{event} made a file HYDRATED from {before.state} without its current bytes",
        )
    if before.state == "HYDRATED" and event == "remote_changed" and not world.is_virtual:
        if not v["content_changed"] and state != "HYDRATED":
            yield Violation("a metadata-only remote change keeps HYDRATED", f"went to {state}")
        expected = "HYDRATING" if world.pinned else "GHOST"
        if v["content_changed"] and state != expected:
            yield Violation(
                "a remote content change on a clean file re-fetches or ghosts it",
                f"went to {state}, expected {expected}",
            )
    remote_edit = (event == "remote_changed" and v["content_changed"]) or event == "remote_deleted"
    dirty_file = before.state == "DIRTY_LOCAL" and not world.is_directory
    if dirty_file and remote_edit and state != "CONFLICT":
        yield Violation("a remote change against local edits is a conflict", f"went to {state}")
    if state not in spec.final_states and state != spec.initial:
        yield from _invariants(spec, state, fields, v, world)


def _invariants(
    spec: MachineSpec, state: str, fields: frozenset[str], v: Mapping[str, bool], world: World
) -> Iterator[Violation]:
    values: dict[str, bool] = {name: name in fields for name in spec.fields}
    values.update(v)
    values.update(
        is_directory=world.is_directory,
        pinned=world.pinned,
        has_open_handles=world.open_handles,
        has_local_changes="has_local_changes" in fields,
        exists_remotely="exists_remotely" in fields,
        is_virtual="is_virtual" in fields,
    )
    for invariant in (*spec.state_invariants.get(state, ()), *spec.invariants):
        if not invariant(values):
            yield Violation(f"invariant of {state}: {invariant.source}", "does not hold")
