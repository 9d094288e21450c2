"""The mountpoint before a mount and after one: checks, stale-mount recovery, unmounting.

A mount is refused (exit 2) on a path that does not exist, is not a folder, is not empty, or
is already mounted and answering: mounting over files would hide them, and over a live mount
would stack a second file system on the first. A mountpoint whose daemon died (a crash, a
SIGKILL) is still in the mount table and answers every call with ENOTCONN; that one is
recovered with a lazy unmount (``fusermount3 -u -z``), so the next ``onemount mount`` simply
works instead of failing with "Transport endpoint is not connected".
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("onemount.fs")

_MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")
# What a FUSE mount whose daemon is gone answers.
_DEAD = frozenset({errno.ENOTCONN, errno.ECONNABORTED})


class MountpointError(Exception):
    """The mountpoint cannot be used; the message says why (the CLI exits 2)."""


class UnmountFailed(Exception):
    """fusermount3 refused (busy, not mounted...); the message is its own."""


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo that matters here."""

    mountpoint: Path
    fstype: str
    source: str


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounts(mountinfo: Path = _MOUNTINFO) -> list[MountEntry]:
    """The mount table as this process sees it."""
    found = []
    for line in mountinfo.read_text().splitlines():
        fields = line.split(" ")
        separator = fields.index("-")
        found.append(
            MountEntry(
                Path(_unescape(fields[4])), fields[separator + 1], _unescape(fields[separator + 2])
            )
        )
    return found


def mounted_at(path: Path) -> MountEntry | None:
    """The file system mounted exactly at ``path`` (the last one, if stacked), or None."""
    hits = [entry for entry in mounts() if entry.mountpoint == path]
    return hits[-1] if hits else None


def absolute(path: Path) -> Path:
    """``path`` made absolute with its parent's symlinks resolved, never touching ``path``
    itself (a dead mount answers even ``lstat`` with ENOTCONN)."""
    full = Path(os.path.abspath(path))
    return Path(os.path.realpath(full.parent)) / full.name if full.name else full


def is_dead(path: Path) -> bool:
    """Whether the FUSE mount at ``path`` has lost its daemon.

    ``statvfs``, because the kernel always asks the daemon for it: a ``stat`` may be answered
    from cached attributes long after the daemon died.
    """
    try:
        os.statvfs(path)
    except OSError as exc:
        return exc.errno in _DEAD
    return False


def prepare(path: Path) -> Path:
    """Check ``path`` for a mount and recover a stale one; return it absolute."""
    path = absolute(path)
    entry = mounted_at(path)
    if entry is not None:
        if not entry.fstype.startswith("fuse") or not is_dead(path):
            raise MountpointError(f"{path} is already mounted ({entry.fstype} from {entry.source})")
        log.warning("%s: the previous mount's daemon is gone; unmounting it (lazily)", path)
        try:
            unmount(path, lazy=True)
        except UnmountFailed as exc:
            raise MountpointError(f"{path}: a dead mount is in the way: {exc}") from None
    if not path.exists():
        raise MountpointError(f"{path} does not exist (create the folder first)")
    if not path.is_dir():
        raise MountpointError(f"{path} is not a folder")
    with os.scandir(path) as entries:
        if next(entries, None) is not None:
            raise MountpointError(f"{path} is not empty: mounting over files would hide them")
    if not os.access(path, os.W_OK | os.X_OK):
        raise MountpointError(f"{path}: no permission to mount here")
    return path


def unmount(path: Path, *, lazy: bool = False) -> None:
    """Unmount the FUSE file system at ``path`` (``fusermount3 -u``; ``-z`` for lazy)."""
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        raise UnmountFailed("fusermount3 is not installed (package fuse3)")
    done = subprocess.run(
        [tool, "-u", *(["-z"] if lazy else []), "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UnmountFailed(done.stderr.strip() or f"{tool} exited with {done.returncode}")
