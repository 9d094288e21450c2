"""``onemount service install MOUNTPOINT``: a systemd user unit that mounts at login."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from onemount import service


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "service", help="run a mount as a systemd user service", description=service.__doc__
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="write onemount@.service and enable a mount")
    install.add_argument("mountpoint", type=Path, help="where the drive is mounted")
    install.add_argument("--no-enable", action="store_true", help="only write the unit file")
    install.add_argument("--no-start", action="store_true", help="enable without starting now")
    install.add_argument(
        "--unit-dir",
        type=Path,
        default=None,
        help="where to write it (default: ~/.config/systemd/user)",
    )
    install.add_argument("--dry-run", action="store_true", help="print what would be run")
    install.set_defaults(handler=_install)


def _install(args: argparse.Namespace) -> int:
    executable = Path(shutil.which("onemount") or sys.argv[0]).resolve()
    docs = Path(__file__).resolve().parents[2] / "docs" / "service.md"
    try:
        done = service.install(
            args.mountpoint,
            unit_dir=args.unit_dir or service.user_unit_dir(),
            executable=executable,
            docs=docs,
            enable=not args.no_enable,
            start=not args.no_start,
            dry_run=args.dry_run,
        )
    except (OSError, RuntimeError) as exc:
        print(f"onemount: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {done.unit_file}")
    for command in done.commands:
        print(("would run: " if args.dry_run else "ran: ") + " ".join(command))
    print(f"the mount is {done.instance}: systemctl --user status {done.instance}")
    return 0
