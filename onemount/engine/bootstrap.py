"""Start-up: the mount machine's first step (``spec/mount.yaml``), decided before anything waits.

* **metadata_v2 present** (drive id, root id, a delta cursor and the root row: the spec's
  ``has_metadata``): SERVING at once, from the store alone. Not one network call happens
  before the mount can answer; the delta loop catches up in the background if Graph is there.
  The reference waited on Graph first and missed its mount timeout on a slow network
  (onemount-reference.md §9 L-mount-timeout).
* **no metadata, Graph reachable** (a first run): ENUMERATING. Two small requests (the drive,
  for its id and kind, and the root item) and the mount answers; the first enumeration runs
  in the background through delta, and a folder opened before it got there is listed through
  ``/children`` on demand (:mod:`.listing`). A drive of a million items is usable at once.
* **no metadata, Graph unreachable**: FAILED, with :class:`BootstrapFailed` saying so. There is
  nothing to serve, and an empty mount would look like an empty drive.

The first run's probe is a few quick attempts (:class:`~.probe.ProbeConfig` ``startup``), not
the client's two minutes of retries: the user is waiting at the prompt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from onemount.engine.convert import entry
from onemount.engine.probe import ProbeConfig, probe
from onemount.engine.store import EngineStore
from onemount.graph import Drive, GraphClient, GraphError
from onemount.names import DriveKind
from onemount.statemachine import compiled
from onemount.store import StateManager, queries
from onemount.store.delta import ingest
from onemount.store.events import RemoteState
from onemount.store.mount_bindings import MountContext, has_metadata

log = logging.getLogger(__name__)

#: kv keys the engine keeps beside the store's own (``drive_id``, ``root_id``, ``delta_cursor``).
DRIVE_TYPE = "drive_type"
ENUMERATED_AT = "enumerated_at"  # when a walk of the whole drive first reached its deltaLink


class BootstrapFailed(Exception):
    """The mount cannot start; the message says why and what to do (the CLI exits 1)."""


@dataclass(frozen=True)
class Started:
    """Where start-up left the mount machine: ``SERVING`` or ``ENUMERATING``.

    ``enumerated`` says whether a walk of the whole drive has ever completed: until it has,
    folders are listed on demand when opened.
    """

    state: str
    enumerated: bool


def drive_kind(drive_type: str | None) -> DriveKind:
    """Graph's ``driveType``: ``personal``, else Business rules (business, documentLibrary)."""
    return DriveKind.PERSONAL if drive_type == "personal" else DriveKind.BUSINESS


async def bootstrap(
    store: EngineStore, client: GraphClient | None, config: ProbeConfig | None = None
) -> Started:
    """Run the mount machine's ``bootstrap``; raise :class:`BootstrapFailed` for FAILED."""
    machine = compiled("mount")
    reader = store.reader
    if has_metadata(MountContext(reader, {})):
        store.set_drive(drive_kind(queries.kv(reader, DRIVE_TYPE)))
        state = machine.fire(machine.initial, "bootstrap", {"has_metadata": True})
        enumerated = queries.kv(reader, ENUMERATED_AT) is not None
        log.info("serving from metadata_v2 (%s)", "complete" if enumerated else "enumerating")
        return Started(state, enumerated)
    result = None if client is None else await probe(client, (config or ProbeConfig()).startup)
    reachable = result is not None and result.reachable
    state = machine.fire(
        machine.initial, "bootstrap", {"has_metadata": False, "graph_reachable": reachable}
    )
    if state == "FAILED":
        why = "offline mode" if client is None else "Graph is unreachable"
        raise BootstrapFailed(
            f"nothing to serve yet: this mount has no metadata and {why}. The first mount of a"
            " drive needs the network once, to list it; try again when online."
        )
    assert client is not None and result is not None
    try:
        if result.drive is None:
            assert result.error is not None
            raise result.error
        root = await client.root()
    except GraphError as exc:
        machine.fire(state, "enumeration_failed")
        raise BootstrapFailed(f"cannot start the first enumeration of the drive: {exc}") from exc
    try:
        root_entry = entry(root)
    except ValueError as exc:
        machine.fire(state, "enumeration_failed")
        raise BootstrapFailed(f"the drive's root item is unusable: {exc}") from exc
    if not isinstance(root_entry, RemoteState) or root_entry.parent_id is not None:
        machine.fire(state, "enumeration_failed")
        raise BootstrapFailed(f"the drive's root item is not its root: {root_entry}")
    await _store_drive(store, result.drive, root_entry)
    log.info("first run: enumerating drive %s in the background", result.drive.id)
    return Started(state, enumerated=False)


async def _store_drive(store: EngineStore, drive: Drive, root: RemoteState) -> None:
    """The drive's id, kind and root item, before any delta page (the root is inode 1)."""
    known = queries.kv(store.reader, "drive_id")
    if known is not None and known.lower() != drive.id.lower():
        raise BootstrapFailed(
            f"this cache holds drive {known}, but the account's drive is {drive.id}:"
            " use another cache directory for another drive"
        )
    kind = drive_kind(drive.drive_type)
    store.set_drive(kind)

    def write(manager: StateManager) -> None:
        manager.set_kv("drive_id", drive.id)
        manager.set_kv("root_id", root.id)
        manager.set_kv(DRIVE_TYPE, kind.value)
        ingest(manager, [root], cursor=None, writers=())

    await store.write(write)
