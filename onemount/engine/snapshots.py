"""The immutable copy of an item's bytes that one upload job sends (``snapshots/<intent>``).

An upload takes minutes for a big file, and the user may keep writing meanwhile. Sending the
cache file itself would put bytes of two versions into one upload (and a resumed session would
stitch them); sending a copy taken at one instant, with its hash and the item's change
sequence recorded by ``start_job``, means the server gets exactly one version, the store knows
which (``changed_during_upload``), and an echo in delta is recognised by its hash.

The copy is a reflink where the filesystem can (btrfs, XFS: no bytes copied), else a plain
copy hashed as it is written, so the bytes are read once either way. It is written under a
temporary name and renamed, so a snapshot file that exists is complete.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from onemount.quickxorhash import QuickXorHash

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_CHUNK = 8 << 20


@dataclass(frozen=True)
class Taken:
    """A finished snapshot: where it is, its size and its QuickXorHash."""

    path: Path
    size: int
    hash: str
    mtime_ns: int


def take(source: Path | None, dest: Path) -> Taken:
    """Copy ``source`` (``None``: an empty file) to ``dest`` and hash the copy.

    Runs in a worker thread. Raises ``OSError`` (``FileNotFoundError`` if ``source`` is gone).
    """
    tmp = dest.with_name(f"{dest.name}.tmp")
    hasher = QuickXorHash()
    size = 0
    out = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        if source is not None:
            src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # A clone is hashed from the copy, which nothing else can change.
                size = _hash_fd(out, hasher) if _reflink(src, out) else _copy(src, out, hasher)
            finally:
                os.close(src)
    finally:
        os.close(out)
    os.replace(tmp, dest)
    return Taken(dest, size, hasher.b64digest(), os.stat(dest).st_mtime_ns)


def _reflink(src: int, out: int) -> bool:
    """Share ``src``'s extents with ``out`` (copy on write); False where unsupported."""
    try:
        fcntl.ioctl(out, FICLONE, src)
    except OSError:
        return False
    return True


def _copy(src: int, out: int, hasher: QuickXorHash) -> int:
    size = 0
    while chunk := os.read(src, _CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view) :]
        hasher.update(chunk)
        size += len(chunk)
    return size


def _hash_fd(fd: int, hasher: QuickXorHash) -> int:
    size = 0
    offset = 0
    while chunk := os.pread(fd, _CHUNK, offset):
        hasher.update(chunk)
        size += len(chunk)
        offset += len(chunk)
    return size


def discard(path: Path) -> None:
    """Remove a snapshot (and a temporary a crash left beside it); missing is fine."""
    path.unlink(missing_ok=True)
    path.with_name(f"{path.name}.tmp").unlink(missing_ok=True)
