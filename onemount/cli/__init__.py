"""The ``onemount`` command line.

Each subcommand lives in its own module named ``<name>_cmd.py`` in this package and exposes
``register(subparsers)``; :func:`main` discovers them, so adding a command never means editing a
central list that several people touch at once. The CLI holds no business logic: it parses,
calls into the layer that owns the work, and turns the result into output and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from onemount import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onemount", description="OneDrive files on demand for Linux."
    )
    parser.add_argument("--version", action="version", version=f"onemount {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.endswith("_cmd"):
            module = importlib.import_module(f"{__name__}.{module_info.name}")
            module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    result: int = handler(args)
    return result
