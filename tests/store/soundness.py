"""What every committed state of the store must satisfy, read from the file alone.

Shared by the model test (after every step) and the crash test (after every kill): each row
meets its state's invariants and the global ones (the spec's expressions, on the abstract fields
``onemount.store.fields`` reads from the row), no two live siblings share a case-folded name,
and no intent is left without its item.
"""

from __future__ import annotations

import apsw

from onemount.statemachine import default_spec
from onemount.store.fields import abstract_fields
from onemount.store.schema import SELECT_ITEMS, as_row


def unsound(conn: apsw.Connection) -> list[str]:
    """Every violation found, readable; an empty list when the file is sound."""
    spec = default_spec("item")
    found: list[str] = []
    for selected in conn.execute(SELECT_ITEMS):
        row = as_row(selected)
        values = abstract_fields(conn, row)
        for invariant in (*spec.state_invariants.get(row["state"], ()), *spec.invariants):
            if not invariant(values):
                found.append(f"inode {row['ino']} in {row['state']}: {invariant.source} fails")
    for parent, key, count in conn.execute(
        "SELECT parent_ino, name_key, count(*) FROM items WHERE state <> 'DELETED_LOCAL'"
        " GROUP BY parent_ino, name_key HAVING count(*) > 1"
    ):
        found.append(f"{count} live children of inode {parent} are named {key!r}")
    for intent, ino, kind in conn.execute(
        "SELECT id, ino, kind FROM intents WHERE ino NOT IN (SELECT ino FROM items)"
    ):
        found.append(f"{kind} intent {intent} has no item (inode {ino})")
    return found
