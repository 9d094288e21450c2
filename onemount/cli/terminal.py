"""What every command of the daily tools shares: its errors, its log level, its progress bar.

Errors are one line on stderr, ``onemount <command>: <why>``, and exit 1 (:class:`Failure`);
argparse's usage errors exit 2. An unexpected exception is one line too, unless
``--log-level debug`` asks for the traceback. Progress (:class:`Progress`) is a rich bar on a
terminal and a plain line per change otherwise, both on stderr, so ``--json`` on stdout stays
machine-readable while a person still sees the work go.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import wraps
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich loads only when a bar is drawn: every command imports this module
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

LEVELS = ("debug", "info", "warning", "error")
Handler = Callable[[argparse.Namespace], int]


class Failure(Exception):
    """What the user is told, in one line, before the command exits 1."""


def add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        metavar="LEVEL",
        default=os.environ.get("ONEMOUNT_LOG_LEVEL", "warning").lower(),
        help="debug shows tracebacks too (default: $ONEMOUNT_LOG_LEVEL or warning)",
    )


def guarded(command: str) -> Callable[[Handler], Handler]:
    """Run a handler so that whatever goes wrong is one line and an exit code."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        def run(args: argparse.Namespace) -> int:
            level = str(getattr(args, "log_level", "warning"))
            logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
            try:
                return handler(args)
            except Failure as exc:
                print(f"onemount {command}: {exc}", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                print(f"onemount {command}: interrupted", file=sys.stderr)
                return 130
            except BrokenPipeError:  # `onemount status | head`: the reader has what it wanted
                sys.stderr.close()
                return 0
            except Exception as exc:
                if level == "debug":
                    traceback.print_exc()
                else:
                    hint = "(--log-level debug shows where)"
                    print(f"onemount {command}: {exc!r} {hint}", file=sys.stderr)
                return 1

        return run

    return wrap


def count(n: int, noun: str) -> str:
    """``1 file``, ``3 files``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def size(n: int | None) -> str:
    """``n`` bytes for a person: ``177 B``, ``5.0 MiB``."""
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable: the loop returns at TiB")


def ago(then: float, now: float | None = None) -> str:
    """How long ago ``then`` (epoch seconds) was: ``4 s``, ``3 min``, ``2 h``, ``5 days``."""
    seconds = max(0.0, (time.time() if now is None else now) - then)
    for unit, span in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{int(seconds // span)} {unit}"
    return f"{int(seconds)} s"


class Progress:
    """Work that takes a while, shown on stderr: a bar on a terminal, plain lines otherwise.

    ``update(done, total, note)`` may be called as often as wanted; plain mode prints a line
    only when something it shows has changed, so a log of it reads as the work's history.
    """

    def __init__(self, what: str, *, stream: TextIO | None = None) -> None:
        self.what = what
        self.stream = stream or sys.stderr
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._last: tuple[int, int, str] | None = None

    def __enter__(self) -> Progress:
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=None, note="")
        return self

    def update(self, done: int, total: int, note: str = "") -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=max(total, 1), note=note)
            return
        shown = (done, total, note)
        if shown != self._last:
            self._last = shown
            tail = f" ({note})" if note else ""
            print(f"{self.what}: {done} of {total}{tail}", file=self.stream, flush=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, value, trace)
