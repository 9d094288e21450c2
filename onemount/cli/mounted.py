"""The running mounts and a path's place in one: what ``status``, ``pin`` and ``conflicts`` use.

A onemount mount is a line of ``/proc/self/mountinfo`` of type ``fuse.onemount``; its daemon
answers on the control socket named by its mountpoint (:mod:`onemount.fs.control`). A path
given on the command line belongs to the mount whose mountpoint is its longest prefix, and is
named to the daemon by its drive path (``/Documents/a.txt``), never by an inode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onemount.cli.terminal import Failure
from onemount.fs import control
from onemount.fs.mountpoint import absolute, mounts

FSTYPE = "fuse.onemount"
#: How long a question to a daemon may take. Its answers come from the store in milliseconds;
#: this only bounds a daemon that hangs.
TIMEOUT = 30.0


@dataclass(frozen=True)
class Located:
    """A path on the command line, placed in its mount."""

    given: str  # as the user wrote it, for messages
    mountpoint: Path
    drive_path: str  # "/" for the mountpoint itself

    @property
    def local(self) -> Path:
        return self.mountpoint / self.drive_path.lstrip("/")

    @property
    def is_mountpoint(self) -> bool:
        return self.drive_path == "/"


def running() -> list[Path]:
    """Every onemount mountpoint in the mount table (answering or not), in table order."""
    seen: list[Path] = []
    for entry in mounts():
        if entry.fstype == FSTYPE and entry.mountpoint not in seen:
            seen.append(entry.mountpoint)
    return seen


def locate(given: str) -> Located:
    """Place ``given`` in its mount; :class:`Failure` if it is in none."""
    path = absolute(Path(given))
    # Resolve symlinks on the way (a link to the mount from a home folder), never the last
    # component: it may be a link inside the mount, which is the link's own status.
    path = Path(os.path.realpath(path.parent)) / path.name if path.name else path
    best: Path | None = None  # the innermost: a mount inside another's folder is its own
    for mountpoint in running():
        if (path == mountpoint or mountpoint in path.parents) and (
            best is None or len(mountpoint.parts) > len(best.parts)
        ):
            best = mountpoint
    if best is None:
        raise Failure(f"{given}: not on a onemount mount (`onemount status` lists them)")
    relative = path.relative_to(best).as_posix()
    return Located(given, best, "/" if relative == "." else f"/{relative}")


def ask(
    mountpoint: Path, name: str, args: dict[str, Any] | None = None, *, about: str | None = None
) -> control.Answer:
    """The daemon's answer to ``name``; :class:`Failure` with its reason when it refuses
    (``about``: the path the request is about, as the user wrote it, to begin the message)."""
    from onemount.control_commands import encode  # the daemon's side: the format is its own

    try:
        found = control.ask(mountpoint, encode(name, args), timeout=TIMEOUT)
    except control.NotServing:
        raise Failure(
            f"{mountpoint}: its onemount daemon is not answering"
            f" (`onemount unmount {mountpoint}` clears a mount whose daemon stopped)"
        ) from None
    except TimeoutError:
        raise Failure(f"{mountpoint}: its daemon did not answer in {TIMEOUT:g} s") from None
    except OSError as exc:  # it went away mid-answer (an unmount)
        raise Failure(f"{mountpoint}: its daemon stopped answering ({exc.strerror})") from None
    if "error" in found:
        raise Failure(f"{about}: {found['error']}" if about else str(found["error"]))
    return found


def mount_status(mountpoint: Path) -> control.Answer:
    """The daemon's ``status`` (pid, cache folder, connectivity) merged with its ``report``."""
    return {**ask(mountpoint, "status"), **ask(mountpoint, "report")}
