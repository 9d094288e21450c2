"""Why the engine could not do what the FUSE layer asked: each carries the errno to answer.

The errnos are a contract (docs/engine.md): a GHOST file opened offline fails at once with
``ENETDOWN`` ("Network is down", the truth, and never an empty file); a download that does not
finish within the open's timeout gives ``ETIMEDOUT``; a download that failed for good gives
``EIO`` with the reason in ``user.onemount.error``; a write the cache cannot take gives
``ENOSPC``; any change on a read-only mount gives ``EROFS``.
"""

from __future__ import annotations

import errno


class EngineError(Exception):
    """A refusal with its errno; the message is for the log, once."""

    errno: int = errno.EIO

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ContentOffline(EngineError):
    errno = errno.ENETDOWN


class HydrationTimedOut(EngineError):
    errno = errno.ETIMEDOUT


class HydrationFailed(EngineError):
    errno = errno.EIO


class CacheFull(EngineError):
    errno = errno.ENOSPC


class ReadOnlyMount(EngineError):
    errno = errno.EROFS
