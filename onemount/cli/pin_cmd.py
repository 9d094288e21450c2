"""``onemount pin PATH...`` and ``onemount unpin PATH...``: keep files on this machine, or not.

A pin is written through the mount, as ``setfattr -n user.onemount.pinned -v 1 PATH`` would:
the FUSE layer hands it to the engine, which pins a folder with everything below it (and what
arrives there later) and downloads what is not here yet. ``pin`` then follows those downloads
with a progress bar until every pinned file is on this machine (exit 0), unless ``--no-wait``;
it stops with exit 1 and the reason when they cannot all come now (offline, a download that
failed, ``--timeout``). Unpinned files stay until the cache needs their room.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import time
from typing import Any

from onemount.cli.mounted import Located, ask, locate
from onemount.cli.terminal import Failure, Progress, add_log_level, count, guarded, size

POLL = 0.2
ATTRIBUTE = "user.onemount.pinned"
_EXIT = (
    "Exit status: 0 done (pin: every pinned file is on this machine, or --no-wait); 1 a PATH"
    " not on a onemount mount or missing, or pin could not bring every file now (offline, a"
    " failed download, the timeout); 2 bad usage."
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pin = subparsers.add_parser(
        "pin",
        help="keep files (folders: everything below) on this machine",
        description="Pin each PATH: its bytes are downloaded now and never evicted; a pinned"
        " folder's files, and those that arrive in it later, are pinned too. Waits with a"
        " progress bar until everything pinned is on this machine.",
        epilog=_EXIT,
    )
    pin.add_argument("paths", nargs="+", metavar="PATH")
    pin.add_argument("--no-wait", action="store_true", help="pin and return at once")
    pin.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting after this")
    pin.add_argument("--json", action="store_true", help="machine-readable output")
    add_log_level(pin)
    pin.set_defaults(handler=_pin)

    unpin = subparsers.add_parser(
        "unpin",
        help="let pinned files be evicted again",
        description="Unpin each PATH (a folder: everything below it). The bytes stay in the"
        " cache until it needs the room; nothing is deleted from OneDrive.",
        epilog=_EXIT,
    )
    unpin.add_argument("paths", nargs="+", metavar="PATH")
    unpin.add_argument("--json", action="store_true", help="machine-readable output")
    add_log_level(unpin)
    unpin.set_defaults(handler=_unpin)


def set_pinned(place: Located, pinned: bool) -> None:
    try:
        os.setxattr(place.local, ATTRIBUTE, b"1" if pinned else b"0", follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):
            raise Failure(f"{place.given}: the mount refused the pin ({exc.strerror})") from None
        raise Failure(f"{place.given}: {exc.strerror}") from None


@guarded("unpin")
def _unpin(args: argparse.Namespace) -> int:
    places = [locate(p) for p in args.paths]
    for place in places:
        set_pinned(place, False)
    if args.json:
        print(json.dumps([{"path": p.given, "pinned": False} for p in places]))
    else:
        for place in places:
            print(f"unpinned {place.given} (its bytes stay until the cache needs the room)")
    return 0


@guarded("pin")
def _pin(args: argparse.Namespace) -> int:
    places = [locate(p) for p in args.paths]
    for place in places:
        set_pinned(place, True)
    if not args.no_wait:
        wait(places, timeout=args.timeout)
    found = [_subtree(p) for p in places]
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for place, tree in zip(places, found, strict=True):
        files, here = tree["files"], tree["cached"]
        where = "all on this machine" if here == files else f"{here} on this machine so far"
        print(f"pinned {place.given}: {count(files, 'file')}, {size(tree['bytes'])}, {where}")
    return 0


def _subtree(place: Located) -> dict[str, Any]:
    return ask(place.mountpoint, "subtree", {"path": place.drive_path}, about=place.given)


def wait(places: list[Located], *, timeout: float | None) -> None:
    """Follow the downloads of ``places`` until all their files are here; Failure if they cannot."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress("downloading pinned files") as progress:
        while True:
            trees = [_subtree(p) for p in places]
            files = sum(t["files"] for t in trees)
            here = sum(t["cached"] for t in trees)
            note = f"{size(sum(t['cached_bytes'] for t in trees))} of"
            progress.update(here, files, f"{note} {size(sum(t['bytes'] for t in trees))}")
            if here == files:
                return
            missing = count(files - here, "file")
            for tree in trees:
                failed = [e for e in tree["errors"] if not e["unsent"]]
                if failed:
                    first = failed[0]
                    raise Failure(f"{first['path']} could not be downloaded: {first['error']}")
                if tree["connectivity"] not in ("ONLINE", "THROTTLED"):
                    raise Failure(
                        f"{missing} not here yet and the mount is {tree['connectivity']}:"
                        " they stay pinned and download when it is back"
                    )
            if deadline is not None and time.monotonic() >= deadline:
                raise Failure(f"timed out after {timeout:g} s with {missing} still downloading")
            time.sleep(POLL)
