"""The mount machine's guards (``bindings`` in spec/mount.meta.yaml); it has no effects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import apsw

from onemount.store.schema import ROOT_INODE

# The keys metadata_v2 must hold to serve without Graph.
REQUIRED_KEYS = ("drive_id", "root_id", "delta_cursor")


@dataclass(frozen=True)
class MountContext:
    conn: apsw.Connection
    context: Mapping[str, Any]


def has_metadata(ctx: MountContext) -> bool:
    """The drive id, the root id and a delta cursor are stored, and the root row exists."""
    marks = ",".join("?" * len(REQUIRED_KEYS))
    found = ctx.conn.execute(
        f"SELECT count(*) FROM kv WHERE key IN ({marks})", REQUIRED_KEYS
    ).fetchone()
    root = ctx.conn.execute("SELECT 1 FROM items WHERE ino = ?", (ROOT_INODE,)).fetchone()
    return found is not None and found[0] == len(REQUIRED_KEYS) and root is not None


def graph_reachable(ctx: MountContext) -> bool:
    """The caller's probe result, passed in the fire context (the store never touches Graph)."""
    return bool(ctx.context.get("graph_reachable", False))


GUARDS: Mapping[str, Callable[[MountContext], bool]] = {
    "has_metadata": has_metadata,
    "graph_reachable": graph_reachable,
}
EFFECTS: Mapping[str, Callable[..., None]] = {}
