"""``onemount demo``: what ``make demo`` runs (onemount/demo.py), from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="mount a fake OneDrive at ./demo-mount and tour it",
        description="Start the fake Graph with a sample drive, mount it at ./demo-mount and"
        " show a tour (downloads, uploads, a remote edit, offline, a conflict). The mount stays"
        " up; --stop unmounts it and stops the fake.",
        epilog="Exit status: 0 the tour ran (or --stop stopped it); 1 a step failed (the message"
        " names the logs) or the mount is busy.",
    )
    parser.add_argument("--stop", action="store_true", help="unmount and stop the fake")
    parser.add_argument("--root", type=Path, help="where demo-mount/ and .demo/ go (default: .)")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from onemount.demo import main  # the demo pulls in the server; other commands need not

    return main(
        [*(["--stop"] if args.stop else []), *(["--root", str(args.root)] if args.root else [])]
    )
