"""The daily commands' shared manners (onemount/cli/terminal.py): errors and progress."""

from __future__ import annotations

import argparse
import io
import os
import pty

import pytest

from onemount.cli.terminal import Failure, Progress, ago, count, guarded, size


def test_errors_are_one_line_unless_debug(capsys: pytest.CaptureFixture[str]) -> None:
    @guarded("thing")
    def failing(args: argparse.Namespace) -> int:
        raise Failure("it could not")

    @guarded("thing")
    def broken(args: argparse.Namespace) -> int:
        raise KeyError("a bug")

    assert failing(argparse.Namespace(log_level="warning")) == 1
    assert capsys.readouterr().err == "onemount thing: it could not\n"
    assert broken(argparse.Namespace(log_level="warning")) == 1
    assert capsys.readouterr().err == (
        "onemount thing: KeyError('a bug') (--log-level debug shows where)\n"
    )
    assert broken(argparse.Namespace(log_level="debug")) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "KeyError: 'a bug'" in err


def test_progress_off_a_terminal_is_a_line_per_change() -> None:
    stream = io.StringIO()
    with Progress("downloading", stream=stream) as progress:
        for done, note in ((0, ""), (0, ""), (1, "a.txt"), (2, "")):
            progress.update(done, 2, note)
    assert stream.getvalue().splitlines() == [
        "downloading: 0 of 2",
        "downloading: 1 of 2 (a.txt)",
        "downloading: 2 of 2",
    ]


def test_progress_on_a_terminal_is_a_bar_that_goes_away() -> None:
    controller, terminal = pty.openpty()
    with os.fdopen(terminal, "w") as stream:
        with Progress("downloading", stream=stream) as progress:
            progress.update(1, 2, "a.txt")
            progress.update(2, 2)
        stream.write("after\n")
    shown = b""
    while chunk := _read(controller):
        shown += chunk
    os.close(controller)
    assert "━" in shown.decode() and "2/2" in shown.decode()
    assert shown.decode().rstrip().endswith("after")  # the bar is gone; no plain lines


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the terminal's other end is closed and everything has been read
        return b""


def test_sizes_counts_and_ages_read_well() -> None:
    assert [size(n) for n in (None, 0, 1023, 1024, 5 << 20, 3 << 40)] == [
        "?",
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3.0 TiB",
    ]
    assert (count(1, "file"), count(2, "file")) == ("1 file", "2 files")
    assert [ago(1000.0 - s, now=1000.0) for s in (4, 180, 7300, 3 * 86400)] == [
        "4 s",
        "3 min",
        "2 h",
        "3 days",
    ]
