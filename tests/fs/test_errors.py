"""The handler wrapper: declared refusals keep their errno, anything else is EIO and a traceback
in the log, and cancellation passes through."""

from __future__ import annotations

import errno
import logging

import pyfuse3
import pytest
import trio

from onemount.engine.errors import ContentOffline, ReadOnlyMount
from onemount.fs.errors import guarded
from onemount.names import DriveKind, ForbiddenName, check_name
from onemount.store import InvalidPlacement, NameTaken, NotEmpty, UnknownItem


def _forbidden(name: str) -> ForbiddenName:
    try:
        check_name(name, drive=DriveKind.BUSINESS)
    except ForbiddenName as exc:
        return exc
    raise AssertionError(f"{name!r} was allowed")


def _answer(exc: BaseException) -> int:
    @guarded
    async def handler() -> None:
        raise exc

    with pytest.raises(pyfuse3.FUSEError) as caught:
        trio.run(handler)
    return caught.value.errno


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ContentOffline("offline"), errno.ENETDOWN),
        (ReadOnlyMount("read-only"), errno.EROFS),
        (NameTaken("taken"), errno.EEXIST),
        (NotEmpty("not empty"), errno.ENOTEMPTY),
        (UnknownItem(7), errno.ENOENT),
        (InvalidPlacement("into itself"), errno.EINVAL),
        (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
        (pyfuse3.FUSEError(errno.EXDEV), errno.EXDEV),
    ],
)
def test_declared_refusals_keep_their_errno(exc: Exception, expected: int) -> None:
    assert _answer(exc) == expected


def test_forbidden_names_answer_their_errno() -> None:
    assert _answer(_forbidden("a:b")) == errno.EINVAL
    assert _answer(_forbidden("x" * 300)) == errno.ENAMETOOLONG


def test_an_unexpected_exception_is_eio_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="onemount.fs"):
        assert _answer(ZeroDivisionError("a bug")) == errno.EIO
        assert _answer(OSError(errno.ENOENT, "a cache file went missing")) == errno.EIO
    records = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(records) == 2
    assert records[0].exc_info is not None and records[0].exc_info[0] is ZeroDivisionError
    assert "handler" in records[0].getMessage()


def test_cancellation_passes_through() -> None:
    @guarded
    async def handler() -> None:
        await trio.sleep_forever()

    async def main() -> None:
        with trio.move_on_after(0.01) as scope:
            await handler()
        assert scope.cancelled_caught

    trio.run(main)
