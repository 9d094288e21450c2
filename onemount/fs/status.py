"""An item's sync status as extended attributes, read from the store (``getfattr -d``).

=========================  =======================================================  ========
name                       value                                                    writable
=========================  =======================================================  ========
``user.onemount.state``    the item's state (``GHOST``, ``HYDRATED``, ``DIRTY_LOCAL``...)  no
``user.onemount.pinned``   ``1`` or ``0``; writing it pins or unpins the item        yes
``user.onemount.error``    the last error, absent when there is none                 no
``user.onemount.id``       the server's item id, absent until the server has one     no
=========================  =======================================================  ========

Removing ``user.onemount.pinned`` unpins. Writing a read-only one is EPERM. Other attribute
names are not stored (OneDrive keeps no extended attributes, so a value set here would exist
on this machine only and vanish from every other): reading one is ENODATA, writing one is
ENOTSUP, which ``cp -a`` and ``rsync -X`` report as "not supported" and carry on.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from onemount.store import queries

STATE = b"user.onemount.state"
PINNED = b"user.onemount.pinned"
ERROR = b"user.onemount.error"
ID = b"user.onemount.id"
NAMES = frozenset({STATE, PINNED, ERROR, ID})
WRITABLE = frozenset({PINNED})


@dataclass(frozen=True)
class Status:
    """The status attributes of one item that have a value."""

    values: dict[bytes, bytes]

    def names(self) -> list[bytes]:
        return [name for name in (STATE, PINNED, ERROR, ID) if name in self.values]


def read(conn: apsw.Connection, ino: int) -> Status | None:
    """The status of ``ino`` (tombstones included: an open handle may name one)."""
    row = queries.get(conn, ino)
    if row is None:
        return None
    values = {STATE: str(row["state"]).encode(), PINNED: b"1" if row["pinned"] else b"0"}
    if row["last_error"]:
        values[ERROR] = str(row["last_error"]).encode()
    if row["remote_id"]:
        values[ID] = str(row["remote_id"]).encode()
    return Status(values)


def parse_pinned(value: bytes) -> bool:
    """``1`` pins, ``0`` unpins (a trailing newline, as ``echo`` adds, is allowed)."""
    text = value.strip()
    if text == b"1":
        return True
    if text == b"0":
        return False
    raise ValueError(f"user.onemount.pinned takes 1 or 0, not {value!r}")
