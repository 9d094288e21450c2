"""``onemount store``: migrate and validate a metadata_v2 database.

The store is imported by the commands themselves, not at start-up: every ``onemount`` command
line builds this parser, and most never open a database.
"""

from __future__ import annotations

import argparse
import os
import sys

#: The database ``--db`` defaults to.
DB_ENV = "ONEMOUNT_DB"


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """``--db PATH``, defaulting to ``$ONEMOUNT_DB`` (shared with ``onemount stats``)."""
    parser.add_argument(
        "--db",
        default=os.environ.get(DB_ENV) or None,
        help=f"metadata_v2 database (default: ${DB_ENV})",
    )


def require_db(args: argparse.Namespace) -> str | None:
    if not args.db:
        print(f"onemount: give --db PATH or set {DB_ENV}", file=sys.stderr)
        return None
    return str(args.db)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("store", help="migrate or validate metadata_v2")
    parser.set_defaults(handler=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="store_command", metavar="ACTION")
    run_migrate = actions.add_parser("migrate", help="upgrade the schema to this version")
    add_db_option(run_migrate)
    run_migrate.set_defaults(handler=_migrate)
    run_validate = actions.add_parser("validate", help="report invalid rows (exit 1 if any)")
    add_db_option(run_validate)
    run_validate.set_defaults(handler=_validate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _migrate(args: argparse.Namespace) -> int:
    from onemount.store.db import connect_writer
    from onemount.store.schema import SchemaError, migrate

    path = require_db(args)
    if path is None:
        return 2
    try:
        conn = connect_writer(path)
        start, end = migrate(conn)
    except SchemaError as exc:
        print(f"onemount: {exc}", file=sys.stderr)
        return 1
    conn.close()
    print(f"{path}: schema version {end}" + ("" if start == end else f" (from {start})"))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from onemount.store.db import open_reader
    from onemount.store.schema import SCHEMA_VERSION, SchemaError, version
    from onemount.store.validate import validate

    path = require_db(args)
    if path is None:
        return 2
    try:
        conn = open_reader(path)
    except (SchemaError, FileNotFoundError) as exc:
        print(f"onemount: {exc}", file=sys.stderr)
        return 1
    findings = validate(conn)
    found = version(conn)
    conn.close()
    for finding in findings:
        print(finding)
    print(f"{path}: {'healthy' if not findings else f'{len(findings)} problem(s)'}")
    if found < SCHEMA_VERSION:  # older is not wrong: the next writer to open it upgrades it
        print(
            f"{path}: schema version {found}; `onemount store migrate` upgrades it to "
            f"{SCHEMA_VERSION}"
        )
    return 1 if findings else 0
