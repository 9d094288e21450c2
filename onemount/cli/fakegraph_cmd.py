"""``onemount fakegraph serve``: the fake Graph on loopback, for tests, tools and the demo.

It prints where it listens and a bearer token its Graph routes accept, then serves until
SIGINT or SIGTERM. The drive lives in ``--data`` (by default under the XDG data folder), so
what a demo or a manual session did to it is still there after a restart; so do the tokens it
issued, and it prints the same bearer token again while that has half its week to live.

The behaviour options each reproduce something the service does (docs/fakegraph.md lists them):
``--lenient-upload-auth`` accepts an Authorization header on upload URLs, as the service long
did; ``--no-delta-path`` leaves ``parentReference.path`` out of personal delta, as documented;
``--public-url`` is the origin its links carry behind a proxy that sends no X-Forwarded-*.
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
    serve.add_argument(
        "--public-url",
        help="origin for the links it hands out (https://graph.microsoft.com behind a proxy)",
    )
    serve.add_argument(
        "--lenient-upload-auth",
        action="store_true",
        help="accept an Authorization header on upload URLs (default: 401, as documented)",
    )
    serve.add_argument(
        "--no-delta-path",
        action="store_true",
        help="leave parentReference.path out of personal delta entries, as documented",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    # Imported here: the server stack (starlette, hypercorn, numpy) would otherwise load for
    # every onemount command, since the CLI registers all of them at start-up.
    import trio

    from onemount.fakegraph import DriveOptions, Tls, build, serve_forever

    if (args.tls_cert is None) != (args.tls_key is None):
        print("onemount: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.public_url and not args.public_url.startswith(("http://", "https://")):
        print("onemount: --public-url is an origin such as https://graph.microsoft.com",
              file=sys.stderr)  # fmt: skip
        return 2
    data_dir: Path = args.data or default_data_dir()
    options = DriveOptions(mode=args.mode) if args.mode else None
    try:
        fake = build(
            data_dir, options, seed=args.seed, access_ttl=_TOKEN_TTL, public_url=args.public_url
        )
    except ValueError as exc:  # a business drive asked of a personal drive's folder, ...
        print(f"onemount: {exc}", file=sys.stderr)
        return 1
    fake.drive.options.strict_upload_auth = not args.lenient_upload_auth
    fake.drive.options.delta_parent_path = not args.no_delta_path
    tls = Tls(args.tls_cert, args.tls_key) if args.tls_cert else None
    token = fake.authority.serving_token(_TOKEN_TTL)

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
