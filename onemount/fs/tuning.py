"""Kernel knobs of a mounted FUSE file system that pyfuse3 cannot set itself.

Buffered reads reach the file system in read-ahead-sized requests: the kernel offers the
mount's backing device's ``read_ahead_kb`` (128 KiB by default), so a sequential first read
of a cached file costs one trip through the FUSE loop per 128 KiB. Raising it to 1 MiB (the
largest request libfuse 3.14 negotiates) cuts those trips eightfold; docs/fs.md has the
measurements. Only root may write it; for everyone else the default stays and the mount works
the same, only slower on first reads.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("onemount.fs")

_BDI = Path("/sys/class/bdi")


def bdi(mountpoint: Path) -> Path:
    """The backing-device folder of the file system mounted at ``mountpoint``."""
    device = os.stat(mountpoint).st_dev
    return _BDI / f"{os.major(device)}:{os.minor(device)}"


def raise_read_ahead(mountpoint: Path, kb: int) -> bool:
    """Set the mount's read-ahead to ``kb`` KiB; False (and a DEBUG line) when not allowed."""
    knob = bdi(mountpoint) / "read_ahead_kb"
    try:
        knob.write_text(f"{kb}\n")
    except OSError as exc:
        log.debug("read-ahead of %s stays at the default: %s", mountpoint, exc.strerror)
        return False
    log.debug("read-ahead of %s: %d KiB", mountpoint, kb)
    return True
