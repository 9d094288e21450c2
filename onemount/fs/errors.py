"""The one wrapper every FUSE handler runs in: an exception becomes an errno, never a dead mount.

pyfuse3 catches only :class:`pyfuse3.FUSEError` in its request loop; anything else escapes the
loop's nursery, ends ``pyfuse3.main()`` and leaves every process using the mount with
``ECONNABORTED``. So each handler of :class:`~onemount.fs.operations.Operations` is decorated
with :func:`guarded`, which answers

* the refusals the layers below declare with their errno: an
  :class:`~onemount.engine.errors.EngineError` carries its own (ENETDOWN, ETIMEDOUT, ENOSPC,
  EROFS...), a name OneDrive forbids carries EINVAL or ENAMETOOLONG, and the store's
  :class:`~onemount.store.NameTaken`, :class:`~onemount.store.NotEmpty`,
  :class:`~onemount.store.UnknownItem` and :class:`~onemount.store.InvalidPlacement` are
  EEXIST, ENOTEMPTY, ENOENT and EINVAL, as a local file system answers them;
* a full disk under the cache (ENOSPC, EDQUOT) with that errno, because it is the truth and
  the user can act on it;
* everything else, a refused transition (:class:`~onemount.store.InvalidTransition`) included,
  with EIO and one ERROR line carrying the traceback: it is a bug, and the log is where it is
  found.

Cancellation (a ``BaseException``) passes through untouched, as trio requires. While a handler
runs, :data:`~onemount.fs.kernel.answering` is set, so the invalidation sink knows that what the
engine reports then is the kernel's own change.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import pyfuse3

from onemount.engine.errors import EngineError
from onemount.fs.kernel import answering
from onemount.names import ForbiddenName
from onemount.store import InvalidPlacement, NameTaken, NotEmpty, UnknownItem

log = logging.getLogger("onemount.fs")

P = ParamSpec("P")
R = TypeVar("R")

# The store's refusals, each the errno a local file system gives for the same mistake.
_STORE_ERRNOS: tuple[tuple[type[Exception], int], ...] = (
    (NameTaken, errno.EEXIST),
    (NotEmpty, errno.ENOTEMPTY),
    (UnknownItem, errno.ENOENT),
    (InvalidPlacement, errno.EINVAL),
)
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def errno_of(exc: Exception) -> int | None:
    """The errno a declared refusal answers with; ``None`` for an unexpected exception."""
    if isinstance(exc, EngineError | ForbiddenName):
        return exc.errno
    for kind, number in _STORE_ERRNOS:
        if isinstance(exc, kind):
            return number
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return exc.errno
    return None


def answer(operation: str, exc: Exception) -> pyfuse3.FUSEError:
    """The FUSEError for ``exc``, logged once: at DEBUG for a refusal, ERROR for a bug."""
    number = errno_of(exc)
    if number is not None:
        log.debug("%s: %s (%s)", operation, exc, errno.errorcode.get(number, number))
        return pyfuse3.FUSEError(number)
    log.error("%s failed unexpectedly; answering EIO", operation, exc_info=exc)
    return pyfuse3.FUSEError(errno.EIO)


def guarded(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run the handler ``fn``; turn any exception but FUSEError into one (see the module)."""

    @functools.wraps(fn)
    async def handler(*args: P.args, **kwargs: P.kwargs) -> R:
        marked = answering.set(True)
        try:
            return await fn(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except Exception as exc:
            raise answer(fn.__name__, exc) from None
        finally:
            answering.reset(marked)

    return handler
