"""Kernel visibility: what the engine tells the FUSE layer after it applies a change.

The engine never imports the FUSE layer. It reports every applied change to an
:class:`InvalidationSink`; the FUSE layer implements it with ``pyfuse3.invalidate_entry_async``
and ``invalidate_inode`` so a remote change is visible at once, not when a cache timeout
expires. Without a mount (tests driving the engine directly) the sink does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from onemount.store import Fired


class InvalidationSink(Protocol):
    def entry_changed(self, parent: int, name: str) -> None:
        """The name ``name`` under ``parent`` appeared, went, or now names another inode."""

    def inode_changed(self, ino: int, *, content: bool) -> None:
        """``ino``'s attributes changed (and, with ``content``, its bytes)."""


class NullSink:
    """No mount: nothing to invalidate."""

    def entry_changed(self, parent: int, name: str) -> None:
        return None

    def inode_changed(self, ino: int, *, content: bool) -> None:
        return None


_CONTENT_TARGETS = frozenset({"GHOST", "HYDRATING", "CONFLICT"})


def report(sink: InvalidationSink, fired: Iterable[Fired]) -> None:
    """Tell ``sink`` what each written transition changed for the kernel's caches."""
    for f in fired:
        if not f.written:
            continue
        moved = (f.parent_before, f.name_before) != (f.parent_after, f.name_after)
        if f.parent_before is not None and f.name_before is not None and moved:
            sink.entry_changed(f.parent_before, f.name_before)
        if (
            f.parent_after is not None
            and f.name_after is not None
            and (moved or f.source == "ABSENT")
        ):
            sink.entry_changed(f.parent_after, f.name_after)
        if f.target == "DELETED_LOCAL" and f.parent_after is not None and f.name_after is not None:
            sink.entry_changed(f.parent_after, f.name_after)
        if f.source != "ABSENT" and f.target != "REMOVED":
            sink.inode_changed(f.ino, content=f.target in _CONTENT_TARGETS and f.source != f.target)
