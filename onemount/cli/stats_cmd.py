"""``onemount stats [MOUNTPOINT]``: counts, shapes and the outbox of a metadata_v2 database.

Read-only, so it can look at a running mount's store (WAL lets a reader see the last commit
while the daemon writes): ``onemount stats ~/OneDrive`` asks that mount's daemon where its
cache folder is; ``--db PATH`` (or ``$ONEMOUNT_DB``) names a database directly. Every state an
item can be in is listed, zeros included, so two outputs always line up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from onemount.cli.store_cmd import add_db_option
from onemount.cli.terminal import Failure, add_log_level, guarded


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="statistics of metadata_v2 (read-only, also while mounted)",
        description="Items by state and kind, folder depth, file sizes and ages, the outbox"
        " and the last transitions of a mount's store (MOUNTPOINT) or of --db PATH.",
        epilog="Exit status: 0 ok; 1 no database there, or a mount not answering; 2 neither"
        " MOUNTPOINT nor --db given.",
    )
    parser.add_argument("mountpoint", nargs="?", type=Path, metavar="MOUNTPOINT")
    add_db_option(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_log_level(parser)
    parser.set_defaults(handler=_stats)


@guarded("stats")
def _stats(args: argparse.Namespace) -> int:
    if args.mountpoint is not None:
        path = _database_of(args.mountpoint)
    elif args.db:
        path = str(args.db)
    else:
        print("onemount stats: give a MOUNTPOINT, --db PATH or set $ONEMOUNT_DB", file=sys.stderr)
        return 2
    from onemount.store.db import open_reader
    from onemount.store.schema import SchemaError
    from onemount.store.stats import collect, render

    try:
        conn = open_reader(path)
    except (SchemaError, FileNotFoundError) as exc:
        raise Failure(str(exc)) from None
    try:
        stats = collect(conn)
    finally:
        conn.close()
    print(json.dumps(stats, indent=2) if args.json else render(stats))
    return 0


def _database_of(mountpoint: Path) -> str:
    from onemount.cli.mounted import ask, locate  # the control channel: only this form needs it

    place = locate(str(mountpoint))
    if not place.is_mountpoint:
        raise Failure(f"{mountpoint} is inside the mount at {place.mountpoint}, not its mountpoint")
    cache_dir = Path(ask(place.mountpoint, "status")["cache_dir"])
    return str(cache_dir / "metadata_v2.db")  # CacheDir.database, without creating its folders
