"""``onemount demo``: the layers that exist, at work on the fake Graph's sample drive."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="a tour on the fake Graph's sample drive")
    parser.add_argument("--data", type=Path, default=None, help="the demo drive's folder")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from onemount.demo import main  # the demo pulls in the server; other commands need not

    return main(["--data", str(args.data)] if args.data else [])
