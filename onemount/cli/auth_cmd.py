"""``onemount auth``: sign in, sign out, and show who is signed in.

Sign-in is the only place onemount ever asks the user anything; the mount itself only reads
the token cache this command fills, and reports AUTH_REQUIRED when it cannot refresh.
"""

from __future__ import annotations

import argparse
import datetime as dt
import stat
import sys
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # msal and trio load when a command runs, not when any onemount starts
    from onemount.auth import AuthConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("auth", help="sign in to OneDrive, sign out, show status")
    parser.set_defaults(handler=lambda _args: _usage(parser))
    commands = parser.add_subparsers(dest="auth_command", metavar="ACTION")

    login = commands.add_parser("login", help="sign in (device code by default)")
    flow = login.add_mutually_exclusive_group()
    flow.add_argument("--device-code", dest="flow", action="store_const", const="device")
    flow.add_argument(
        "--browser",
        dest="flow",
        action="store_const",
        const="browser",
        help="sign in in a browser on this machine (redirect to http://localhost)",
    )
    login.add_argument("--client-id", help="application (client) id of your app registration")
    login.add_argument("--authority", help="e.g. https://login.microsoftonline.com/consumers")
    login.set_defaults(handler=run_login, flow="device")

    logout = commands.add_parser("logout", help="forget the cached tokens")
    logout.set_defaults(handler=run_logout)

    status = commands.add_parser("status", help="who is signed in (exit 1 if nobody)")
    status.set_defaults(handler=run_status)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_login(args: argparse.Namespace) -> int:
    import trio

    from onemount.auth import AuthError, load_config

    try:
        config = load_config(client_id=args.client_id, authority=args.authority)
        account = trio.run(_login, config, args.flow)
    except AuthError as exc:
        print(f"onemount auth login: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"Signed in as {account}.")
    return 0


async def _login(config: AuthConfig, flow: str) -> str:
    from onemount.auth import Authenticator

    auth = Authenticator(config)
    if flow == "browser":
        account = await auth.login_browser(_open_browser)
    else:
        account = await auth.login_device_code(lambda message: print(message, flush=True))
    return account.username


async def _open_browser(url: str) -> None:
    import trio

    print(f"Opening a browser to sign in. If none opens, visit:\n{url}", flush=True)
    await trio.to_thread.run_sync(webbrowser.open, url)


def run_logout(args: argparse.Namespace) -> int:
    from onemount.auth import load_config
    from onemount.auth.cache import open_token_store

    config = load_config(client_id_required=False)
    open_token_store(config.cache_path, use_keyring=config.use_keyring).clear()
    print("Signed out: cached tokens removed.")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from onemount.auth import load_config
    from onemount.auth.cache import open_token_store
    from onemount.auth.client import cache_status

    config = load_config(client_id_required=False)
    status = cache_status(open_token_store(config.cache_path, use_keyring=config.use_keyring))
    if status.account is None:
        print(f"Not signed in (token cache: {status.location}).")
        return 1
    name = f" ({status.account.name})" if status.account.name else ""
    print(f"Signed in as {status.account.username}{name}")
    if status.access_token_expires_at is None:
        print("Access token: none cached (the next use refreshes it)")
    else:
        expiry = dt.datetime.fromtimestamp(status.access_token_expires_at, dt.UTC)
        minutes = (status.access_token_expires_at - time.time()) / 60
        print(f"Access token expires: {expiry:%Y-%m-%d %H:%M:%S} UTC ({minutes:+.0f} min)")
    print(f"Token cache: {status.location}{_mode(Path(status.location))}")
    return 0


def _mode(path: Path) -> str:
    try:
        return f" (mode {stat.S_IMODE(path.stat().st_mode):04o})"
    except OSError:
        return ""
