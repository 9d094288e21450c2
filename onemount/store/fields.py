"""The spec's abstract fields (``fields`` in spec/item.meta.yaml), read from a stored row.

Validation, the conformance tests and the crash test all judge rows by the spec's own
invariants; this is the one place that says how each abstract name is read from metadata_v2.
"""

from __future__ import annotations

import apsw

from onemount.store.item_bindings import Row

_INTENT_FIELDS = {
    "upload": "pending_upload",
    "mkdir": "pending_mkdir",
    "move": "pending_move",
    "delete": "pending_delete",
}


def abstract_fields(conn: apsw.Connection, row: Row) -> dict[str, bool]:
    """Every field and row-derived guard of the item spec, for ``row``."""
    pending = {
        kind for (kind,) in conn.execute("SELECT kind FROM intents WHERE ino = ?", (row["ino"],))
    }
    values = {field: kind in pending for kind, field in _INTENT_FIELDS.items()}
    values.update(
        has_local_changes=bool(row["has_local_changes"]),
        content_cached=row["cached_hash"] is not None,
        exists_remotely=row["remote_id"] is not None,
        is_virtual=bool(row["virtual"]),
        is_directory=row["kind"] == "folder",
        pinned=bool(row["pinned"]),
        hydration_active=row["hydration_started"] is not None and row["hydration_finished"] is None,
        error_recorded=row["last_error"] is not None,
        remote_version_kept=row["conflict_remote_etag"] is not None,
    )
    return values
