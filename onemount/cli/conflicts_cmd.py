"""``onemount conflicts list`` and ``onemount conflicts resolve PATH --keep local|remote|both``.

A file is in conflict when this machine and another device both changed it: the file shows our
bytes, and the server's version is kept beside them until someone decides (onemount/engine/
conflicts.py). By default a mount decides by itself as soon as the file is closed: it keeps
both, our version under a "conflict copy" name; these commands show the conflicts still open
(a file being written, or a mount configured to wait) and settle one by hand.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from onemount.cli.mounted import ask, locate, mount_status, running
from onemount.cli.terminal import add_log_level, ago, guarded, size

_KEEP = {
    "local": "this machine's version replaces the server's",
    "remote": "the server's version replaces this machine's, which is discarded",
    "both": "this machine's version moves to a conflict copy beside the file,"
    " which takes the server's version",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "conflicts",
        help="list conflicts, or resolve one",
        description="Files changed both here and on another device, and how to settle them.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="the conflicts of every running mount (or of the mounts of PATHs)",
        description="List the files in conflict: this machine's version and the server's.",
        epilog="Exit status: 0 (with or without conflicts); 1 a mount not answering or a PATH"
        " not on a onemount mount; 2 bad usage.",
    )
    listing.add_argument("paths", nargs="*", metavar="PATH", help="limit to these mounts")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add_log_level(listing)
    listing.set_defaults(handler=_list)

    resolve = actions.add_parser(
        "resolve",
        help="settle the conflict of PATH",
        description="Settle the conflict of PATH. "
        + "; ".join(f"--keep {k}: {what}" for k, what in _KEEP.items())
        + ". remote and both wait until no program has the file open for writing.",
        epilog="Exit status: 0 resolved; 1 PATH is not in conflict, is open for writing, or"
        " is not on a running onemount mount; 2 bad usage.",
    )
    resolve.add_argument("path", metavar="PATH")
    resolve.add_argument("--keep", required=True, choices=tuple(_KEEP), help="which version")
    resolve.add_argument("--json", action="store_true", help="machine-readable output")
    add_log_level(resolve)
    resolve.set_defaults(handler=_resolve)


@guarded("conflicts list")
def _list(args: argparse.Namespace) -> int:
    mountpoints = []
    for given in args.paths:
        found = locate(given).mountpoint
        if found not in mountpoints:
            mountpoints.append(found)
    listed: list[dict[str, Any]] = []
    for mountpoint in mountpoints or running():
        report = mount_status(mountpoint)
        listed.extend({"mountpoint": str(mountpoint), **c} for c in report["conflicts"])
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    if not listed:
        print("no conflicts")
    for conflict in listed:
        theirs = (
            "deleted on the server"
            if conflict["remote_gone"]
            else f"the server's is {size(conflict['remote_size'])}"
        )
        print(
            f"{conflict['mountpoint']}{conflict['path']}: ours is {size(conflict['local_size'])},"
            f" {theirs} (since {ago(conflict['since'])} ago)"
        )
    if listed:
        print("settle one with: onemount conflicts resolve PATH --keep local|remote|both")
    return 0


@guarded("conflicts resolve")
def _resolve(args: argparse.Namespace) -> int:
    place = locate(args.path)
    wanted = {"path": place.drive_path, "keep": args.keep}
    done = ask(place.mountpoint, "resolve", wanted, about=place.given)
    if args.json:
        print(json.dumps(done))
        return 0
    print(f"{args.path}: kept {args.keep}: {_KEEP[args.keep]}")
    if done.get("copy"):
        print(f"  this machine's version is now {place.mountpoint}{done['copy']}")
    return 0
