"""The item machine's world: what really happens to bytes and names, judged apart from the spec.

The spec says which state an item moves to and which abstract fields its effects change. This
module keeps the facts the spec cannot see and says, step by step, what happened to them:

* **content versions**: what the server holds, what the row records as the server's (the
  remote hash), the version kept beside ours in a conflict, the bytes in the cache (what the
  user reads), what an upload job is sending (its snapshot) and what a download is fetching;
* **placements**: where the user sees the item (name, parent and the mtime the user set, the
  attributes a rename or a utime changes and a move carries), what the row holds, where the
  server has it, and what an in-flight create or move carries;
* **handles**: open for reading, open for writing; **acknowledgements** the server made that the
  row has not heard of yet (an upload or a move applied, our own create echoed by delta); another
  item arriving on the server under our name.

Versions are small integers, renumbered in order of appearance after every step (a canonical
form), so equal situations are one node and the exploration reaches a fixpoint. The guards that
describe the world (``content_changed``, ``is_upload_echo``, ``hydration_current``,
``matches_arrival``, ``changed_during_upload``, ``attributes_changed_since_sent``) are *derived*
from these facts, never drawn freely: the runtime computes them from hashes and names, and the
spec must be right for every situation the world can produce. Each effect's meaning for the
facts is :data:`EFFECTS` below; an effect the world does not model is a check failure.

The safety properties compare the two worlds: a spec that lets an eviction, a remote change or a
failed upload take unsent bytes away, takes our own upload's echo for a conflict, accepts a stale
download, drops a rename or lets an arriving item overwrite ours is caught here.

Both the exhaustive explorer (:mod:`.explore`) and the Hypothesis stateful test use
:func:`step` and :func:`env_step`, so the properties are written once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace

from onemount.statemachine.compiled import CompiledMachine, InvalidTransition
from onemount.statemachine.spec import MachineSpec, TransitionSpec

#: The content "version" of a folder: it has no bytes, only existence.
FOLDER = -1
#: Events the user's own decision may use to drop unsent bytes.
USER_DISCARDS = frozenset({"local_deleted", "resolve_keep_remote"})
#: Events by which the user's newer bytes supersede older unsent ones.
LOCAL_WRITES = frozenset({"local_modified", "local_overwritten"})
#: States that keep local bytes the server does not have.
RETAINING_STATES = frozenset({"DIRTY_LOCAL", "CONFLICT", "ERROR"})
CREATION_EVENTS = frozenset({"remote_appeared", "local_created", "virtual_created"})
#: Environment steps: things that happen without a spec event (the guards read their result).
ENV_EVENTS = (
    "pin",
    "unpin",
    "open",
    "close",
    "open_for_write",
    "close_writers",
    "upload_start",
    "server_accepts_upload",
    "download_restart",
    "move_send",
    "server_applies_move",
    "remote_edit",
    "remote_rename",
    "remote_delete",
    "foreign_arrival",
)
_CONTENT_SLOTS = ("server", "known", "kept", "local", "snapshot", "fetch")
_PLACEMENT_SLOTS = ("name", "row_name", "server_name", "sent_name")


@dataclass(frozen=True)
class World:
    """Facts about one item that hold regardless of what the spec records."""

    is_directory: bool = False
    is_virtual: bool = False
    pinned: bool = False
    handles: bool = False  # open for reading (writers count as open handles too)
    writers: bool = False  # open for writing
    user_deleted: bool = False  # rmdir()/unlink() succeeded: no local children were left
    # content versions (None: absent)
    server: int | None = None  # on the server
    known: int | None = None  # what the row records as the server's (remote hash)
    kept: int | None = None  # a remote version the row keeps beside ours
    local: int | None = None  # the bytes in the cache: what the user reads
    unsent: bool = False  # ``local`` is a version the server has never had
    snapshot: int | None = None  # what the upload (or mkdir) job in flight sends
    upload_acked: bool = False  # the server applied it; the reply is not processed yet
    fetch: int | None = None  # what the download in flight fetches
    # placements (name, parent and user-set mtime as one value)
    name: int = 0  # where the user sees the item
    name_is_local: bool = False  # the user (or a move aside) chose it; the server lacks it
    row_name: int = 0  # what the row holds
    server_name: int | None = None  # where the server has it
    sent_name: int | None = None  # what the create or move in flight carries
    sending_create: bool = False  # the job in flight creates the item (it carries sent_name)
    move_acked: bool = False  # the server applied the move; the reply is not processed yet
    arrival: str | None = None  # another item arrived under our name: "ours" or "foreign"


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


# ---- guards ----------------------------------------------------------------------------------


def guard_values(node: Node) -> dict[str, bool]:
    """What the runtime's guards read: the row's fields, the environment, the incoming facts."""
    f, w = node.fields, node.world
    file = not w.is_directory
    return {
        "is_directory": w.is_directory,
        "is_virtual": "is_virtual" in f,
        "pinned": w.pinned,
        "has_open_handles": w.handles or w.writers,
        "has_writers": w.writers,
        "has_local_changes": "has_local_changes" in f,
        "exists_remotely": "exists_remotely" in f,
        "has_kept_remote_version": "remote_version_kept" in f,
        # Delta reports the server's current state; a content change is a different version.
        "content_changed": file and w.server is not None and w.server != w.known,
        "is_upload_echo": file and w.snapshot is not None and w.server == w.snapshot,
        "hydration_current": file and w.fetch is not None and w.fetch == w.known,
        "matches_arrival": w.arrival == "ours" and "exists_remotely" not in f,
        "remote_matches_local": file and w.local is not None and w.server == w.local,
        "changed_during_upload": file and w.snapshot is not None and w.local != w.snapshot,
        "attributes_changed_since_sent": w.sent_name is not None and w.row_name != w.sent_name,
        "has_unsent_descendants": False,
    }


def valuations(spec: MachineSpec, node: Node, event: str) -> Iterator[dict[str, bool]]:
    """Every guard valuation the world can present for ``event`` at ``node``.

    Only two things are free: the kind of a new item, and whether a folder the server deleted
    still holds unsent descendants (the world of one item does not model its children).
    """
    if not _world_allows(node, event):
        return
    free: list[str] = []
    if node.state == spec.initial and event in CREATION_EVENTS:
        free.append("is_directory")
    if event == "remote_deleted" and node.world.is_directory and not node.world.user_deleted:
        free.append("has_unsent_descendants")
    for values in itertools.product((False, True), repeat=len(free)):
        valuation = guard_values(node)
        valuation.update(zip(free, values, strict=True))
        if event == "virtual_created":
            valuation["is_virtual"] = True
            valuation["is_directory"] = False
        if all(c(valuation) for c in spec.constraints) and _requires(spec, event, node, valuation):
            yield valuation


def _requires(spec: MachineSpec, event: str, node: Node, valuation: Mapping[str, bool]) -> bool:
    """Whether the runtime can produce ``event`` at all here (the sidecar's ``requires``)."""
    declared = spec.events.get(event)
    if declared is None:
        return True
    values = {name: name in node.fields for name in spec.fields}
    values.update(valuation)
    return declared.requires(values)


def _world_allows(node: Node, event: str) -> bool:
    """When the world can produce ``event``: a reply needs its request, a delta its change."""
    w, f = node.world, node.fields
    exists = "exists_remotely" in f
    match event:
        case "hydrate_succeeded" | "hydrate_failed":
            return w.fetch is not None
        case "local_modified":
            return w.is_directory or (w.writers and w.local is not None)
        case "upload_succeeded":
            return w.upload_acked
        case "upload_failed":  # also when the server applied it but the reply was lost
            return w.snapshot is not None
        case "upload_conflicted":
            if w.snapshot is None or w.upload_acked:
                return False
            return w.server != w.known if exists else w.arrival == "foreign"
        case "remote_changed":
            return exists and w.server is not None
        case "remote_deleted":
            return exists and w.server is None
        case "delete_confirmed":
            # Our DELETE carries If-Match: a version we have not seen makes it a 412.
            return "pending_delete" in f and w.server in (None, w.known)
        case "delete_rejected":
            return "pending_delete" in f
        case "name_collided":
            return w.arrival is not None
        case "move_succeeded":
            return w.move_acked
        case _:
            return True


# ---- the world's side of each effect ----------------------------------------------------------


@dataclass
class _Facts:
    """The world being rewritten by one step: a mutable copy plus what the step delivered."""

    w: dict[str, object]
    fields_before: frozenset[str]
    delivered: int | None = None  # the bytes a finished download delivered
    forked: bool = False

    def __getitem__(self, key: str) -> object:
        return self.w[key]

    def __setitem__(self, key: str, value: object) -> None:
        self.w[key] = value

    def fresh(self, slots: tuple[str, ...]) -> int:
        used = [v for k in slots if isinstance(v := self.w[k], int) and v >= 0]
        return max(used, default=-1) + 1


def _refresh(x: _Facts) -> None:
    x["known"] = x["server"]
    if "pending_move" in x.fields_before:
        return  # the user's placement wins until the server has it
    if x["name"] == x["row_name"]:
        x["name"] = x["server_name"]  # the user sees the remote rename
    x["row_name"] = x["server_name"]


def _take_local_placement(x: _Facts) -> None:
    x["row_name"] = x["name"]


def _move_aside(x: _Facts) -> None:
    x["name"] = x["row_name"] = x.fresh(_PLACEMENT_SLOTS)
    x["name_is_local"] = True


def _adopt_remote_identity(x: _Facts) -> None:
    if x["arrival"] == "foreign":  # the wrong item: its content is somebody else's
        x["server"] = x.fresh(_CONTENT_SLOTS)
    x["server_name"] = x["row_name"]
    x["known"] = x["server"]
    x["upload_acked"] = False  # the create's reply, if it comes, finds the item known by id
    x["snapshot"] = None if x["sending_create"] else x["snapshot"]
    _end_create(x)


def _start_hydration(x: _Facts) -> None:
    x["fetch"] = x["known"]


def _restart_hydration(x: _Facts) -> None:
    # A download still in flight goes on (it may finish, stale) until the hydrator restarts it.
    if x["fetch"] is None:
        x["fetch"] = x["known"]


def _finish_hydration(x: _Facts) -> None:
    x["local"] = x.delivered


def _abandon_hydration(x: _Facts) -> None:
    x["fetch"] = None


def _drop_cached_content(x: _Facts) -> None:
    if not x["is_directory"]:
        x["local"] = None


def _cancel_upload(x: _Facts) -> None:
    x["snapshot"] = None
    x["upload_acked"] = False
    _end_create(x)


def _end_create(x: _Facts) -> None:
    """The create in flight is over (answered, adopted, cancelled): its name is no longer sent."""
    if x["sending_create"]:
        x["sent_name"] = None
        x["sending_create"] = False


def _cancel_all(x: _Facts) -> None:
    _cancel_upload(x)
    x["sent_name"] = None
    x["move_acked"] = False


def _adopt_uploaded_version(x: _Facts) -> None:
    x["known"] = x["snapshot"]
    x["snapshot"] = None
    x["upload_acked"] = False
    _end_create(x)


def _complete_move(x: _Facts) -> None:
    x["sent_name"] = None
    x["move_acked"] = False


def _record_server_placement(x: _Facts) -> None:
    x["sent_name"] = None
    x["move_acked"] = False


def _keep_remote_version(x: _Facts) -> None:
    x["kept"] = x["server"]


def _drop_kept_version(x: _Facts) -> None:
    x["kept"] = None


def _forget_remote_identity(x: _Facts) -> None:
    x["known"] = x["kept"] = None
    x["server_name"] = None
    x["sent_name"], x["move_acked"] = None, False  # a move of the old identity is moot


def _adopt_kept_as_base(x: _Facts) -> None:
    if x["kept"] is not None:
        x["known"] = x["kept"]
    x["kept"] = None


def _adopt_remote_version(x: _Facts) -> None:
    _adopt_kept_as_base(x)


def _discard_local_changes(x: _Facts) -> None:
    if not x["is_directory"]:
        x["local"] = None
    x["unsent"] = False


def _fork_conflict_copy(x: _Facts) -> None:
    x.forked = True  # the bytes now belong to a new item, uploaded like any new file
    x["unsent"] = False


def _purge(x: _Facts) -> None:
    x["local"] = x["fetch"] = x["snapshot"] = None


def _no_world_effect(x: _Facts) -> None:
    """Bookkeeping only (flags, intents, errors): the facts above do not change."""


#: What each effect of spec/item.yaml does to the facts of the world.
EFFECTS: Mapping[str, Callable[[_Facts], None]] = {
    "mark_remote": _no_world_effect,
    "mark_virtual": _no_world_effect,
    "record_local_change": _no_world_effect,
    "queue_upload": _no_world_effect,
    "queue_mkdir": _no_world_effect,
    "queue_move": _no_world_effect,
    "queue_delete": _no_world_effect,
    "cancel_all_intents": _cancel_all,
    "cancel_upload": _cancel_upload,
    "cancel_delete": _no_world_effect,
    "take_local_placement": _take_local_placement,
    "take_local_times": _take_local_placement,  # the times are part of the placement value
    "move_aside": _move_aside,
    "record_server_placement": _record_server_placement,
    "complete_move": _complete_move,
    "adopt_remote_identity": _adopt_remote_identity,
    "start_hydration": _start_hydration,
    "restart_hydration": _restart_hydration,
    "finish_hydration": _finish_hydration,
    "abandon_hydration": _abandon_hydration,
    "drop_cached_content": _drop_cached_content,
    "drop_kept_version": _drop_kept_version,
    "refresh_remote_metadata": _refresh,
    "adopt_uploaded_version": _adopt_uploaded_version,
    "clear_local_changes": _no_world_effect,
    "record_error": _no_world_effect,
    "clear_error": _no_world_effect,
    "keep_remote_version": _keep_remote_version,
    "forget_remote_identity": _forget_remote_identity,
    "adopt_remote_version_as_base": _adopt_kept_as_base,
    "adopt_remote_version": _adopt_remote_version,
    "discard_local_changes": _discard_local_changes,
    "fork_conflict_copy": _fork_conflict_copy,
    "purge": _purge,
}


def unmodelled_effects(spec: MachineSpec) -> list[str]:
    """Effects the spec uses that this world gives no meaning to (a check failure)."""
    return sorted(spec.used_effects - set(EFFECTS))


# ---- steps -----------------------------------------------------------------------------------


def _canonical(world: World) -> World:
    """Renumber versions in order of first appearance, so equal situations are equal nodes."""
    changes: dict[str, int] = {}
    for slots in (_CONTENT_SLOTS, _PLACEMENT_SLOTS):
        mapping: dict[int, int] = {}
        for slot in slots:
            value = getattr(world, slot)
            if isinstance(value, int) and value >= 0:
                changes[slot] = mapping.setdefault(value, len(mapping))
    return replace(world, **changes)  # type: ignore[arg-type]


def env_step(node: Node, event: str) -> Node | None:
    """Apply an environment step; None when it cannot happen here."""
    w, f = node.world, node.fields
    live = node.state not in ("ABSENT", "REMOVED", "DELETED_LOCAL") and not w.is_virtual
    exists = "exists_remotely" in f
    new: World | None = None
    match event:
        case "pin" if not w.pinned and not w.is_virtual and node.state != "ABSENT":
            new = replace(w, pinned=True)
        case "unpin" if w.pinned:
            new = replace(w, pinned=False)
        case "open" if live and not w.is_directory and not w.handles:
            new = replace(w, handles=True)
        case "close" if w.handles:
            new = replace(w, handles=False)
        case "open_for_write" if live and not w.is_directory and not w.writers:
            if w.local is not None:  # a write open of a GHOST waits for its bytes first
                new = replace(w, writers=True)
        case "close_writers" if w.writers:
            new = replace(w, writers=False)
        case "upload_start" if node.state == "DIRTY_LOCAL" and w.snapshot is None:
            if f & {"pending_upload", "pending_mkdir"}:
                content = FOLDER if w.is_directory else w.local
                if exists:
                    new = replace(w, snapshot=content)
                else:
                    new = replace(w, snapshot=content, sent_name=w.row_name, sending_create=True)
        case "server_accepts_upload" if w.snapshot is not None and not w.upload_acked:
            new = _server_accepts(w, exists)
        case "download_restart" if "hydration_active" in f and w.fetch not in (None, w.known):
            new = replace(w, fetch=w.known)
        case "move_send" if "pending_move" in f and w.sent_name is None and exists:
            if w.sending_create:
                return None
            if "pending_delete" in f:
                return None  # a move waits behind a pending delete
            new = replace(w, sent_name=w.row_name)
        case "server_applies_move" if exists and w.sent_name is not None and not w.move_acked:
            if w.server is not None and w.arrival is None:  # else 409: the name is taken
                new = replace(w, server_name=w.sent_name, move_acked=True)
        case "remote_edit" if w.server is not None and not w.is_directory:
            new = replace(w, server=_fresh(w, _CONTENT_SLOTS))
        case "remote_rename" if w.server is not None:
            new = replace(w, server_name=_fresh(w, _PLACEMENT_SLOTS))
        case "remote_delete" if w.server is not None:
            new = replace(w, server=None, server_name=None)
        case "foreign_arrival" if live and w.arrival is None and w.row_name != w.server_name:
            new = replace(w, arrival="foreign")
    if new is None:
        return None
    if new.name == new.server_name:
        new = replace(new, name_is_local=False)
    return replace(node, world=_canonical(new))


def _server_accepts(w: World, exists: bool) -> World | None:
    """The server applies our upload or mkdir: If-Match passes, or the new name is free."""
    if exists:
        if w.server is None or w.server != w.known:
            return None  # someone else changed (or deleted) it first: 412, not an accept
        return replace(
            w, server=w.snapshot, upload_acked=True, unsent=w.unsent and w.local != w.snapshot
        )
    if w.server is not None or w.arrival == "foreign":
        return None  # the name is taken on the server: 409
    echoed = "ours" if w.row_name == w.sent_name else None
    return replace(
        w,
        server=w.snapshot,
        server_name=w.sent_name,
        upload_acked=True,
        unsent=w.unsent and w.local != w.snapshot,
        arrival=echoed,
    )


def _fresh(w: World, slots: tuple[str, ...]) -> int:
    used = [v for s in slots if isinstance(v := getattr(w, s), int) and v >= 0]
    return max(used, default=-1) + 1


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
    fields_after = set(node.fields)
    for effect in transition.effects:
        declared = spec.effects.get(effect)
        for name, value in (declared.sets if declared else {}).items():
            (fields_after.add if value else fields_after.discard)(name)
    if event in CREATION_EVENTS:
        # The kind is a fact of the world fixed at creation; the row records it.
        (fields_after.add if valuation["is_directory"] else fields_after.discard)("is_directory")
    facts = _event_facts(node, event, valuation)
    for effect in transition.effects:
        EFFECTS.get(effect, _no_world_effect)(facts)
    if event == "name_collided":
        facts["arrival"] = None
    if transition.target not in ("DELETED_LOCAL", "REMOVED"):
        facts["user_deleted"] = False  # a tombstone given back (a remote edit wins) is live
    if facts["name"] == facts["server_name"]:
        facts["name_is_local"] = False  # the server has the user's placement now
    raw = Node(transition.target, frozenset(fields_after), World(**facts.w))  # type: ignore[arg-type]
    # The properties compare versions across the step, so they read the world before it is
    # renumbered; the node kept for the search is the canonical one.
    violations = tuple(check(spec, node, event, valuation, raw, facts.forked))
    after = replace(raw, world=_canonical(raw.world))
    return Step(event, valuation, transition, after, violations)


def _event_facts(node: Node, event: str, v: Mapping[str, bool]) -> _Facts:
    """The world as the event itself leaves it, before the spec's effects act on it."""
    w = node.world
    x = _Facts({f.name: getattr(w, f.name) for f in fields(World)}, node.fields)
    if event == "remote_appeared":
        folder = v["is_directory"]
        x.w.update(
            is_directory=folder, server=FOLDER if folder else 0, known=FOLDER if folder else 0
        )
        x.w.update(name=0, row_name=0, server_name=0)
    elif event == "local_created":
        folder = v["is_directory"]
        x.w.update(is_directory=folder, local=FOLDER if folder else 0, unsent=True)
        x.w.update(name=0, row_name=0, server_name=None, name_is_local=True)
    elif event == "virtual_created":
        x.w.update(is_virtual=True, local=0)
    elif event in {"local_modified", "local_overwritten"} and not w.is_directory:
        x["local"] = x.fresh(_CONTENT_SLOTS)
        x["unsent"] = True
    elif event in {"local_renamed", "local_times_changed"}:
        x["name"] = x.fresh(_PLACEMENT_SLOTS)
        x["name_is_local"] = True
    elif event == "local_deleted":
        # Handles still open now refer to the deleted file (POSIX): writes through them go to
        # its unlinked bytes and never to this item again.
        x.w.update(user_deleted=True, handles=False, writers=False)
    elif event in {"hydrate_succeeded", "hydrate_failed"}:
        x.delivered, x["fetch"] = w.fetch, None
    elif event in {"upload_failed", "upload_conflicted"}:
        x["snapshot"], x["upload_acked"] = None, False
        _end_create(x)
    elif event == "delete_confirmed":
        x["server"] = x["server_name"] = None
    elif event == "resolve_keep_remote":
        x["unsent"] = False
    elif event == "remote_deleted" and w.is_directory and v["has_unsent_descendants"]:
        x["unsent"] = True  # the folder must be created again to hold them
        x["local"] = FOLDER
    if event == "upload_succeeded" and "exists_remotely" not in node.fields:
        x["arrival"] = None  # delta now finds the item by its id: no longer an arrival
    return x


# ---- properties ------------------------------------------------------------------------------


def check(
    spec: MachineSpec,
    before: Node,
    event: str,
    v: Mapping[str, bool],
    after: Node,
    forked: bool = False,
) -> Iterator[Violation]:
    """The safety properties of one accepted step."""
    w, state, fields_after = after.world, after.state, after.fields
    file = not w.is_directory and not w.is_virtual
    if before.state in spec.final_states:
        yield Violation("removed is final", f"{before.state} accepted {event}")
    yield from _no_loss(before, event, after, forked)
    clean_upload = event == "upload_succeeded" and not v["changed_during_upload"]
    if clean_upload and "has_local_changes" in fields_after:
        yield Violation(
            "an upload's completion clears the dirty mark",
            f"{state} still records local changes the server now has (a re-upload loop)",
        )
    if w.is_virtual and state != "HYDRATED":
        yield Violation("virtual stays HYDRATED", f"{event} moved a virtual entry to {state}")
    if state == "HYDRATED" and file and (w.local is None or w.local != w.known):
        yield Violation(
            "HYDRATED only with the current bytes",
            f"{event} made a file HYDRATED from {before.state} without the bytes of the version"
            " the row records as the server's",
        )
    stored = state not in spec.final_states and state != spec.initial
    if file and stored and ("content_cached" in fields_after) != (w.local is not None):
        yield Violation(
            "the row's cache flag matches the cache",
            f"{state} says content_cached={'content_cached' in fields_after}"
            f" but the cache {'holds' if w.local is not None else 'lacks'} bytes",
        )
    yield from _remote_change_rules(before, event, v, after)
    if event == "hydrate_succeeded" and not v["hydration_current"] and state == "HYDRATED":
        yield Violation(
            "a stale download is never accepted",
            "a download of an older version was taken as the current bytes",
        )
    if w.writers and not w.user_deleted and (w.local is None or state not in _WRITABLE):
        yield Violation(
            "a file open for writing keeps its bytes",
            f"{event} left a file open for writing in {state} with"
            f" {'no bytes' if w.local is None else 'bytes no write can reach'}",
        )
    yield from _placement_rules(before, event, after)
    if state not in spec.final_states and state != spec.initial:
        yield from _invariants(spec, state, fields_after, v, w)


_WRITABLE = frozenset({"HYDRATED", "DIRTY_LOCAL", "CONFLICT", "ERROR"})


def _no_loss(before: Node, event: str, after: Node, forked: bool) -> Iterator[Violation]:
    w0, w, state, f = before.world, after.world, after.state, after.fields
    if event in USER_DISCARDS:
        return
    if event in LOCAL_WRITES and not w.is_directory and (not w.unsent or w.local is None):
        # A write supersedes older unsent bytes, but its own bytes must be kept.
        yield Violation(
            "unsent local bytes are never discarded",
            f"the bytes {event} wrote are gone ({state})",
        )
        return
    version = None if event in LOCAL_WRITES else w0.local
    lost = (
        w0.unsent
        and version is not None
        and version != FOLDER
        and version != w.local
        and version != w.server
        and not forked
    )
    if lost:
        yield Violation(
            "unsent local bytes are never discarded",
            f"{event} took an item with unsent local changes to {state} and their bytes are gone",
        )
    elif w.unsent:
        kept = (
            state in RETAINING_STATES
            and "has_local_changes" in f
            and ("content_cached" in f or w.is_directory)
        )
        if not kept:
            yield Violation(
                "unsent local bytes are never discarded",
                f"{event} took an item with unsent local changes to {state}"
                f" (fields: {', '.join(sorted(f)) or 'none'})",
            )


def _remote_change_rules(
    before: Node, event: str, v: Mapping[str, bool], after: Node
) -> Iterator[Violation]:
    w, state = after.world, after.state
    if event != "remote_changed" and event != "remote_deleted":
        return
    file = not w.is_directory and not w.is_virtual
    if before.state == "HYDRATED" and event == "remote_changed" and file:
        if not v["content_changed"] and state != "HYDRATED":
            yield Violation("a metadata-only remote change keeps HYDRATED", f"went to {state}")
        if v["content_changed"]:
            expected = "HYDRATED" if w.writers else "HYDRATING" if w.pinned else "GHOST"
            if state != expected:
                yield Violation(
                    "a remote content change on a clean file re-fetches or ghosts it",
                    f"went to {state}, expected {expected}"
                    + (" (the file is open for writing: the change waits)" if w.writers else ""),
                )
    if before.state == "DIRTY_LOCAL" and file:
        remote_edit = event == "remote_deleted" or (
            v["content_changed"] and not v["is_upload_echo"]
        )
        if remote_edit and state != "CONFLICT":
            yield Violation("a remote change against local edits is a conflict", f"went to {state}")
        if event == "remote_changed" and v["is_upload_echo"] and state == "CONFLICT":
            yield Violation(
                "the echo of our own upload is not a conflict",
                "delta reported the bytes our upload sent and the item went to CONFLICT",
            )


def _placement_rules(before: Node, event: str, after: Node) -> Iterator[Violation]:
    w0, w, state, f = before.world, after.world, after.state, after.fields
    if event == "name_collided" and w0.arrival == "foreign":
        if "exists_remotely" in f and "exists_remotely" not in before.fields:
            yield Violation(
                "a collision never takes another item for ours",
                "an item that arrived under our name with other content became this item",
            )
        elif state not in ("REMOVED",) and w.row_name == w0.row_name:
            yield Violation(
                "a collision never takes another item for ours",
                "the item that arrived under our name and ours now share it",
            )
    if state in ("ABSENT", "REMOVED", "DELETED_LOCAL") or w.user_deleted or w.is_virtual:
        return
    if w.row_name != w.name:
        yield Violation(
            "a local rename is never dropped",
            f"after {event} the row no longer holds the name and parent the user gave",
        )
    elif w.name_is_local and w.name != w.server_name:
        if "exists_remotely" in f and "pending_move" not in f:
            yield Violation(
                "a local rename is never dropped",
                f"after {event} the server has another name and no move is pending",
            )
        if "exists_remotely" not in f and "has_local_changes" not in f:
            yield Violation(
                "a local rename is never dropped",
                f"after {event} the item is not on the server and nothing will create it",
            )


def _invariants(
    spec: MachineSpec, state: str, fields_after: frozenset[str], v: Mapping[str, bool], w: World
) -> Iterator[Violation]:
    values: dict[str, bool] = {name: name in fields_after for name in spec.fields}
    values.update(v)
    values.update(
        is_directory=w.is_directory,
        pinned=w.pinned,
        has_open_handles=w.handles or w.writers,
        has_writers=w.writers,
        has_local_changes="has_local_changes" in fields_after,
        exists_remotely="exists_remotely" in fields_after,
        is_virtual="is_virtual" in fields_after,
        has_kept_remote_version="remote_version_kept" in fields_after,
    )
    for invariant in (*spec.state_invariants.get(state, ()), *spec.invariants):
        if not invariant(values):
            yield Violation(f"invariant of {state}: {invariant.source}", "does not hold")
