"""``onemount stats``: counts, shapes and the outbox of a metadata_v2 database (read-only)."""

from __future__ import annotations

import argparse
import json
import sys

from onemount.cli.store_cmd import add_db_option, require_db
from onemount.store.db import open_reader
from onemount.store.schema import SchemaError
from onemount.store.stats import collect, render


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("stats", help="statistics of metadata_v2 (read-only)")
    add_db_option(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_stats)


def _stats(args: argparse.Namespace) -> int:
    path = require_db(args)
    if path is None:
        return 2
    try:
        conn = open_reader(path)
    except (SchemaError, FileNotFoundError) as exc:
        print(f"onemount: {exc}", file=sys.stderr)
        return 1
    stats = collect(conn)
    conn.close()
    print(json.dumps(stats, indent=2) if args.json else render(stats))
    return 0
