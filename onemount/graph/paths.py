"""Graph URL paths for items, below a drive (``/me/drive`` or ``/drives/{id}``).

Ids are opaque and passed through percent-encoding; a name is encoded as one segment, so a
``#``, ``?`` or ``%`` in it stays part of the name (graph-api.md §8, "Path encoding").
"""

from __future__ import annotations

from urllib.parse import quote


def item_path(drive: str, item_id: str) -> str:
    return f"{drive}/items/{quote(item_id, safe='!')}"


def child_path(drive: str, parent_id: str, name: str) -> str:
    """The item named ``name`` in folder ``parent_id``, whether it exists yet or not."""
    return f"{item_path(drive, parent_id)}:/{quote(name, safe='')}:"


def root_path(drive: str, segments: list[str]) -> str:
    """The item at a path from the root, one encoded segment per name."""
    if not segments:
        return f"{drive}/root"
    return f"{drive}/root:/{'/'.join(quote(s, safe='') for s in segments)}:"
