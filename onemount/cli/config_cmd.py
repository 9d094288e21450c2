"""``onemount config show``: the effective value of every option, and where it came from."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from onemount.config import OPTIONS, ConfigError, load, markdown


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show the effective configuration",
        description="Options come from defaults, the TOML file, ONEMOUNT_* variables and flags,"
        " the later winning (docs/config.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="every option's value and its source")
    show.add_argument("--config", type=Path, metavar="FILE", help="the configuration file")
    show.add_argument(
        "--mountpoint", type=Path, metavar="PATH", help='apply that mount\'s [mounts."PATH"] table'
    )
    formats = show.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true", help="machine-readable output")
    formats.add_argument("--markdown", action="store_true", help="the options table of the docs")
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    if args.markdown:
        print(markdown(), end="")
        return 0
    try:
        settings = load(config_file=args.config, mountpoint=args.mountpoint)
    except ConfigError as exc:
        print(f"onemount: {exc}", file=sys.stderr)
        return 1
    rows = [settings.setting(option.key) for option in OPTIONS]
    if args.json:
        print(
            json.dumps(
                {r.key: {"value": r.value, "source": r.source, "from": r.where} for r in rows},
                indent=2,
            )
        )
        return 0
    width = max(len(r.key) for r in rows)
    for r in rows:
        origin = r.source if not r.where else f"{r.source} ({r.where})"
        shown = "(none)" if r.value is None else str(r.value)
        print(f"{r.key:<{width}}  {shown:<24}  {origin}")
    return 0
