"""Typed columns of the store's raw queries (APSW gives every value as any SQLite type)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast


def ints(rows: Iterable[tuple[object, ...]]) -> list[int]:
    """The first column of every row, as ints (an ``ino``, an intent ``id``)."""
    return [int(cast(int, row[0])) for row in rows]


def int_pairs(rows: Iterable[tuple[object, ...]]) -> list[tuple[int, int]]:
    """The first two columns of every row, as ints (``ino, size``)."""
    return [(int(cast(int, row[0])), int(cast(int, row[1]))) for row in rows]
