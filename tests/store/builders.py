"""Short constructors for the store's typed events, so tests read like the situation they set up.

Every payload type of :mod:`onemount.store.events` requires its safety fields; these helpers
fill the uninteresting ones with plain values (an unchanged tag, a file closed for writing) and
leave the interesting ones to the test. Nothing here has a default that would hide a guard: a
test that cares about ``writers`` or ``snapshot_seq`` passes it.
"""

from __future__ import annotations

from onemount.store import ROOT_INODE, StateManager
from onemount.store.events import (
    Failure,
    Kind,
    LocalCreated,
    LocalModified,
    RemoteAppeared,
    RemoteChanged,
    RemoteState,
)

ROOT_ID = "root-id"


def remote(
    item_id: str,
    name: str,
    parent: str | None = ROOT_ID,
    *,
    kind: Kind = "file",
    etag: str | None = None,
    ctag: str | None = "c1",
    hash: str | None = "h1",
    size: int = 10,
    mtime: float | None = 1000.0,
) -> RemoteState:
    """An item as the server describes it; a folder gets no cTag or hash unless given."""
    folder = kind == "folder"
    return RemoteState(
        id=item_id,
        name=name,
        parent_id=parent,
        kind=kind,
        etag=etag or f"e-{item_id}-{name}",
        ctag=None if folder and ctag == "c1" else ctag,
        hash=None if folder and hash == "h1" else hash,
        size=0 if folder else size,
        mtime=mtime,
    )


def root_state() -> RemoteState:
    return remote(ROOT_ID, "root", None, kind="folder")


def appeared(item_id: str, name: str, parent: str | None = ROOT_ID, **kw: object) -> RemoteAppeared:
    return RemoteAppeared(remote=remote(item_id, name, parent, **kw))  # type: ignore[arg-type]


def changed(
    item_id: str, name: str, parent: str | None = ROOT_ID, *, writers: bool = False, **kw: object
) -> RemoteChanged:
    return RemoteChanged(remote=remote(item_id, name, parent, **kw), writers=writers)  # type: ignore[arg-type]


def created(
    name: str, parent: int = ROOT_INODE, *, kind: Kind = "file", size: int = 0, mtime: float = 1.0
) -> LocalCreated:
    return LocalCreated(parent=parent, name=name, kind=kind, size=size, mtime=mtime, mode=None)


def modified(size: int = 5, mtime: float = 2.0, cached_hash: str | None = None) -> LocalModified:
    return LocalModified(size=size, mtime=mtime, cached_hash=cached_hash)


def failure(error: str = "failed for good", *, temporary: bool = False) -> Failure:
    return Failure(error=error, error_kind="test", temporary=temporary)


def add_root(manager: StateManager) -> None:
    manager.fire(None, RemoteAppeared(remote=root_state()))
