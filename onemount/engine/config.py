"""The engine's knobs, with the defaults a mount starts with (docs/engine.md explains each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class EngineConfig:
    """Every number the engine decides by. The CLI's config file and flags fill it."""

    #: Downloads that run at once (a process waiting for a file goes first).
    download_workers: int = 4
    #: Uploads, mkdirs, moves and deletes that run at once.
    upload_workers: int = 4
    #: The content cache's limit in bytes (None: only the free-space floor applies).
    cache_limit_bytes: int | None = None
    #: Free disk the cache always leaves on its filesystem.
    min_free_bytes: int = 512 * MiB
    #: Seconds after the last close (or write) of a file before its upload starts, so an
    #: editor's burst of saves becomes one upload of the latest bytes.
    upload_idle_delay: float = 3.0
    #: How long opening a GHOST file waits for its download before ETIMEDOUT.
    hydrate_timeout: float = 300.0
    #: On unmount, how long pending changes may keep being sent before the rest stays queued.
    drain_deadline: float = 10.0
    #: Never touch the network (``onemount mount --offline``).
    offline: bool = False
    #: Refuse every change through the mount (``--read-only``).
    read_only: bool = False
    #: Keep a change-notification socket to Graph (False: the polling cadence alone).
    notifications: bool = True
    #: A conflict nobody resolves: keep both versions once the file is closed ("both"), or
    #: leave it for ``onemount conflicts resolve`` ("ask").
    conflict_policy: Literal["both", "ask"] = "both"
