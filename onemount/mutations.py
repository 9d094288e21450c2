"""Test-only switches that put the reference implementation's bugs back, one at a time.

The system conformance run (tests/model/test_system_mutations.py) turns each on and shows that
the run finds it; docs/model-conformance.md has the table. A switch is a one-line hook in the
module that owns the behaviour::

    if mutations.on("echo_is_conflict"):
        return False

Off unless named in ``ONEMOUNT_MUTATIONS`` (comma-separated; read once, at import, so a mount
started with it, the slow tier's, has it too) or switched on in process with :func:`active`.
A mount never sets either; an unknown name is refused, so a typo cannot pass a run silently.
With nothing on, :func:`on` is one set lookup.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onemount.store import StateManager

#: Every switch, with the reference's bug it puts back.
KNOWN: dict[str, str] = {
    "etag_invalidation": "content changes decided by eTag, so a remote rename counts as one",
    "remote_change_drops_dirty": "unsent local bytes dropped when the file changes remotely",
    "cursor_before_apply": "the delta cursor stored as each page arrives, before it is applied",
    "rename_cancels_upload": "a rename cancels the file's upload, which is never queued again",
    "truncate_not_uploaded": "a truncate changes the cached bytes but is never uploaded",
    "empty_file_not_uploaded": "a new empty file (touch) is never uploaded",
    "upload_keeps_dirty": "an upload's completion does not clear the dirty mark (re-upload loop)",
    "offline_ghost_empty": "opening a ghost offline gives an empty file instead of ENETDOWN",
    "echo_is_conflict": "the echo of our own upload in delta is taken for a remote change",
    "stale_hydration_accepted": "a download of another version than the row's is accepted",
}


def _parse(text: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = names - KNOWN.keys()
    if unknown:
        raise ValueError(f"ONEMOUNT_MUTATIONS: unknown {sorted(unknown)}; known: {sorted(KNOWN)}")
    return names


_active: frozenset[str] = _parse(os.environ.get("ONEMOUNT_MUTATIONS", ""))


def on(name: str) -> bool:
    """Whether the switch ``name`` is on (never, outside a mutation test)."""
    return bool(_active) and name in _active


@contextmanager
def active(*names: str) -> Iterator[None]:
    """Switch ``names`` on for the block (in-process runs)."""
    global _active
    before = _active
    _active = before | _parse(",".join(names))
    try:
        yield
    finally:
        _active = before


def cancel_uploads(manager: StateManager, ino: int) -> None:
    """The old behaviour of a rename: the item's upload job is cancelled, and nothing queues
    it again (the item stays dirty with no job to send it)."""
    from onemount.store import JobReport

    found = manager.conn.execute("SELECT id FROM intents WHERE ino = ? AND kind = 'upload'", (ino,))
    for (intent,) in found.fetchall():
        manager.set_job_state(int(str(intent)), JobReport("cancel"))


__all__ = ["KNOWN", "active", "cancel_uploads", "on"]
