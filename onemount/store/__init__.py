"""metadata_v2: the single source of truth for every item, on SQLite through APSW.

* :mod:`.schema` the tables, the state trigger and the migrations (``PRAGMA user_version``).
* :mod:`.db` opening: one writer (WAL, synchronous=NORMAL), read-only readers.
* :mod:`.events` one frozen payload type per event of the item machine.
* :mod:`.manager` :class:`StateManager`, the only writer of ``state`` (``fire``, ``fire_batch``,
  the outbox's job outcomes). :mod:`.delta` applies a delta page as Graph sends it.
* :mod:`.item_bindings`, :mod:`.upload_bindings`, :mod:`.mount_bindings` the spec's guards and
  effects on rows.
* :mod:`.queries` lookups, listings, paths, intents due. :mod:`.validate` and :mod:`.stats`
  back ``onemount store validate`` and ``onemount stats``.
"""

from onemount.store.db import open_reader, open_writer
from onemount.store.manager import (
    Event,
    Fired,
    InvalidPlacement,
    InvalidTransition,
    JobGone,
    JobReport,
    NameTaken,
    NotEmpty,
    Snapshot,
    StateManager,
    UnknownItem,
)
from onemount.store.schema import ROOT_INODE, SCHEMA_VERSION, SchemaError

__all__ = [
    "ROOT_INODE",
    "SCHEMA_VERSION",
    "Event",
    "Fired",
    "InvalidPlacement",
    "InvalidTransition",
    "JobGone",
    "JobReport",
    "NameTaken",
    "NotEmpty",
    "SchemaError",
    "Snapshot",
    "StateManager",
    "UnknownItem",
    "open_reader",
    "open_writer",
]
