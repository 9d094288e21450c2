"""``onemount fakegraph serve``: the fake Graph on loopback, for tests, tools and the demo.

It prints where it listens and a bearer token its Graph routes accept, then serves until
SIGINT or SIGTERM. The drive lives in ``--data`` (by default under the XDG data folder), so
what a demo or a manual session did to it is still there after a restart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

_TOKEN_TTL = 7 * 24 * 3600.0  # a printed token that outlives a working session


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "onemount" / "fakegraph"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fakegraph", help="the fake Microsoft Graph server")
    commands = parser.add_subparsers(dest="fakegraph_command", metavar="COMMAND", required=True)
    serve = commands.add_parser("serve", help="serve a fake OneDrive on 127.0.0.1")
    serve.add_argument("--host", default="127.0.0.1", help="address (loopback unless you mean it)")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    serve.add_argument("--data", type=Path, default=None, help="the drive's folder")
    serve.add_argument("--seed", choices=["sample", "empty"], default="empty")
    serve.add_argument("--mode", choices=["personal", "business"], default=None)
    serve.add_argument("--tls-cert", type=Path, help="serve https with this certificate")
    serve.add_argument("--tls-key", type=Path, help="... and this key")
    serve.add_argument("--json", action="store_true", help="print the endpoint as one JSON line")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    # Imported here: the server stack (starlette, hypercorn, numpy) would otherwise load for
    # every onemount command, since the CLI registers all of them at start-up.
    import trio

    from onemount.fakegraph import DriveOptions, Tls, build, serve_forever

    if (args.tls_cert is None) != (args.tls_key is None):
        print("onemount: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    data_dir: Path = args.data or default_data_dir()
    options = DriveOptions(mode=args.mode) if args.mode else None
    try:
        fake = build(data_dir, options, seed=args.seed, access_ttl=_TOKEN_TTL)
    except ValueError as exc:  # e.g. a business drive asked of a personal drive's folder
        print(f"onemount: {exc}", file=sys.stderr)
        return 1
    tls = Tls(args.tls_cert, args.tls_key) if args.tls_cert else None
    token = fake.authority.issue_static_token()

    def started(origin: str) -> None:
        endpoint = {
            "base_url": f"{origin}/v1.0",
            "admin_url": f"{origin}/_fake",
            "token": token,
            "drive_id": fake.drive.drive_id,
            "mode": fake.drive.options.mode,
            "data": str(data_dir),
        }
        if args.json:
            print(json.dumps(endpoint), flush=True)
            return
        print(f"fake Graph ({endpoint['mode']} drive {endpoint['drive_id']}) in {data_dir}")
        print(f"  Graph:  {endpoint['base_url']}")
        print(f"  admin:  {endpoint['admin_url']}")
        print(f"  token:  {token}")
        print(f'  try:    curl -H "Authorization: Bearer {token}" {origin}/v1.0/me/drive/root')
        print("Ctrl-C stops it.", flush=True)

    try:
        trio.run(
            lambda: serve_forever(fake, host=args.host, port=args.port, tls=tls, started=started)
        )
    finally:
        fake.drive.close()
    return 0
