"""From the Graph client's :class:`~onemount.graph.DriveItem` to the store's delta entries.

The store speaks :class:`~onemount.store.events.RemoteState` (a live item as the server
describes it) and :class:`~onemount.store.events.RemoteDeletion` (a tombstone). This module is
the one place that decides how a driveItem becomes one of those, so a delta page, a
``/children`` listing and a re-fetched item all land in the store the same way.

Decisions (docs/engine.md, "Remote to local"):

* **Folders carry no size and no cTag.** Graph gives a folder the total size of its subtree and,
  on personal drives, a cTag that changes whenever anything below it changes. Neither says
  anything about the folder itself, and storing them would make every delta rewrite every
  ancestor of every changed item (a journal row, a kernel invalidation, for nothing).
* **A OneNote notebook (``package``) is a folder.** It has neither a ``file`` nor a ``folder``
  facet, but it is a container: its sections are children that delta lists with the notebook
  as their parent. As a file it could never be downloaded and would strand those children
  (an item under a file cannot be placed); as a folder its sections are listed and readable.
  Any other package type is treated the same way.
* **Shared items added to the drive (``remoteItem``) are not shown.** Their content lives in
  another drive, which this drive's delta does not follow (graph-api.md §2.2): shown, they
  would be empty folders that swallow writes. They are counted as ``shared`` and skipped.
* **A live item of no known kind, or with no parent but not the root, is rejected**, like an
  element the client could not parse (:class:`~onemount.graph.items.RejectedItem`), so the
  engine re-fetches it later instead of guessing.
* **An empty file's hash is the all-zero QuickXorHash**, which is what hashing no bytes gives.
  The client drops that value everywhere (it is also the bogus hash of tombstones); without it
  an empty file on Business (no cTag either) could never be compared and would count as
  changed on every delta that repeats it.
* **mtime** is ``fileSystemInfo.lastModifiedDateTime`` (what the writing client set), else the
  service's ``lastModifiedDateTime``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from onemount.graph.items import DriveItem, ItemKind, RejectedItem
from onemount.store.delta import Entry
from onemount.store.events import RemoteDeletion, RemoteState

#: QuickXorHash of zero bytes (160 zero bits, and a length of 0 XORed in), base64.
EMPTY_QUICKXORHASH = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="


@dataclass
class Converted:
    """A page's items as store entries, plus what could not become one."""

    entries: list[Entry] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)
    shared: int = 0  # remoteItem entries skipped (shared items added to the drive)


def convert(items: Iterable[DriveItem], rejected: Iterable[RejectedItem] = ()) -> Converted:
    """Every item of a page (or a listing) as a store entry, in server order."""
    out = Converted(rejected=list(rejected))
    for item in items:
        if item.remote is not None and not item.deleted:
            out.shared += 1
            continue
        try:
            out.entries.append(entry(item))
        except ValueError as exc:
            out.rejected.append(RejectedItem(item.id, str(exc)))
    return out


def entry(item: DriveItem) -> Entry:
    """One driveItem as a store entry; :class:`ValueError` for a live item of no known kind."""
    if item.deleted:
        return RemoteDeletion(id=item.id)
    if item.kind is ItemKind.UNKNOWN:
        raise ValueError("a live item with neither a file nor a folder facet")
    if item.parent_id is None and not item.is_root:
        # Only the root has no parent; taken as one, this item would claim the root's inode.
        raise ValueError("a live item other than the root without a parent id")
    assert item.name is not None  # the parser refuses a live item without a name
    folder = item.kind is not ItemKind.FILE
    digest = item.quick_xor_hash
    if digest is None and not folder and item.size == 0:
        digest = EMPTY_QUICKXORHASH
    when = item.fs_modified or item.modified
    return RemoteState(
        id=item.id,
        name=item.name,
        parent_id=None if item.is_root else item.parent_id,
        kind="folder" if folder else "file",
        etag=item.etag,
        ctag=None if folder else item.ctag,
        hash=None if folder else digest,
        size=0 if folder else item.size or 0,
        mtime=None if when is None else when.timestamp(),
    )
