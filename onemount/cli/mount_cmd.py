"""``onemount mount MOUNTPOINT`` and ``onemount unmount MOUNTPOINT``.

``mount`` runs in the foreground until the file system is unmounted (Ctrl-C or SIGTERM
unmount it cleanly); ``--daemon`` returns as soon as the mount answers and leaves a daemon
logging to ``<cache dir>/onemount.log``. Settings come from the configuration file, the
environment and these flags (docs/config.md). ``--graph-url URL --token-file FILE`` point the
mount at any Graph-compatible endpoint, the fake included, with the bearer token in FILE
(refused unless only its owner can read it); without them the account signed in with
``onemount auth login`` is used.

Exit codes: 0 after a clean unmount; 2 for a usage problem found before anything starts (a
bad flag or setting, a mountpoint that is missing, not empty or already mounted, a cache
folder or mountpoint in use, a token file others can read); 1 when the mount could not start
or failed (Graph unreachable on a first run, not signed in) or ``unmount`` found nothing to
unmount or was refused (files still open).
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from onemount.config import ConfigError, Settings, load

if TYPE_CHECKING:  # the mount's modules load pyfuse3 and trio: only `mount` imports them
    from onemount.fs.mount import MountPlan
    from onemount.graph import TokenProvider

LEVELS = ("debug", "info", "warning", "error")
_UNMOUNT_TIMEOUT = 600.0  # the daemon bounds its own drain; this only guards a hung daemon


class UsageError(Exception):
    """A problem with what the user asked for (exit 2)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mount = subparsers.add_parser(
        "mount",
        help="mount OneDrive at MOUNTPOINT",
        description="Mount OneDrive at MOUNTPOINT (an empty folder), in the foreground unless"
        " --daemon. Every file shows at once; its bytes come when something opens it.",
    )
    mount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    mount.add_argument("--daemon", action="store_true", help="detach once the mount answers")
    mount.add_argument("--cache-dir", type=Path, metavar="DIR", help="store and cached bytes")
    mount.add_argument("--config", type=Path, metavar="FILE", help="the configuration file")
    mount.add_argument(
        "--offline", action="store_const", const=True, help="never touch the network"
    )
    mount.add_argument(
        "--read-only", action="store_const", const=True, help="refuse every change (EROFS)"
    )
    mount.add_argument("--log-level", choices=LEVELS, metavar="LEVEL", help=", ".join(LEVELS))
    mount.add_argument("--graph-url", metavar="URL", help="a Graph-compatible endpoint")
    mount.add_argument(
        "--token-file", type=Path, metavar="FILE", help="bearer token for --graph-url (mode 0600)"
    )
    mount.set_defaults(handler=run_mount)

    unmount = subparsers.add_parser(
        "unmount",
        help="unmount, after sending pending changes for a while",
        description="Unmount MOUNTPOINT: its daemon sends pending changes until the drain"
        " deadline, unmounts, and says how many are still pending (they stay queued).",
    )
    unmount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    unmount.set_defaults(handler=run_unmount)


def default_cache_dir(mountpoint: Path) -> Path:
    """``$XDG_CACHE_HOME/onemount/<mountpoint escaped as systemd does>``: one per mount."""
    from onemount.service import escape_path

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onemount" / escape_path(mountpoint)


def read_token_file(path: Path) -> str:
    """The bearer token in ``path``, which only its owner may read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as exc:
        raise UsageError(f"--token-file {path}: {exc.strerror}") from None
    with os.fdopen(fd) as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"--token-file {path} is not a regular file")
        if info.st_mode & 0o077 or info.st_uid != os.getuid():
            raise UsageError(
                f"--token-file {path} has mode {stat.S_IMODE(info.st_mode):04o} and owner uid"
                f" {info.st_uid}: it holds a credential, so it must be yours with mode 0600"
                f" (chmod 600 {path})"
            )
        token = file.read().strip()
    if not token or any(c.isspace() for c in token):
        raise UsageError(f"--token-file {path} must hold one bearer token and nothing else")
    return token


@dataclass(frozen=True)
class _Prepared:
    plan: MountPlan
    settings: Settings
    log_file: Path


def run_mount(args: argparse.Namespace) -> int:
    try:
        prepared = _prepare(args)
    except (UsageError, ConfigError) as exc:
        print(f"onemount mount: {exc}", file=sys.stderr)
        return 2
    except _NotSignedIn as exc:
        print(f"onemount mount: {exc}", file=sys.stderr)
        return 1
    return _run(prepared, daemon=args.daemon)


class _NotSignedIn(Exception):
    pass


def _prepare(args: argparse.Namespace) -> _Prepared:
    from onemount.fs.mount import GraphEndpoint, MountPlan
    from onemount.fs.mountpoint import MountpointError, absolute, prepare
    from onemount.graph import GRAPH_URL, StaticToken

    mountpoint = absolute(args.mountpoint)
    flags = {
        "cache_dir": None if args.cache_dir is None else str(args.cache_dir),
        "log_level": args.log_level,
        "graph_url": args.graph_url,
        "token_file": None if args.token_file is None else str(args.token_file),
        "offline": args.offline,
        "read_only": args.read_only,
    }
    settings = load(config_file=args.config, mountpoint=mountpoint, flags=flags)
    # Now, so that what is found before the mount starts (a dead mount recovered) is told
    # too; a daemon's stderr becomes its log file, and this handler follows it there.
    _configure_logging(str(settings["log_level"]))
    graph_url, token_file = settings["graph_url"], settings["token_file"]
    if (graph_url is None) != (token_file is None):
        raise UsageError("--graph-url and --token-file go together")
    endpoint: GraphEndpoint | None = None
    if graph_url is not None and token_file is not None:
        endpoint = GraphEndpoint(
            str(graph_url), StaticToken(read_token_file(Path(str(token_file))))
        )
    elif not settings["offline"]:
        endpoint = GraphEndpoint(GRAPH_URL, _signed_in())
    try:
        mountpoint = prepare(mountpoint)
    except MountpointError as exc:
        raise UsageError(str(exc)) from None
    configured = settings["cache_dir"]
    cache_dir = (Path(str(configured)) if configured else default_cache_dir(mountpoint)).absolute()
    plan = MountPlan(
        mountpoint=mountpoint,
        cache_dir=cache_dir,
        engine=settings.engine_config(),
        graph=endpoint,
    )
    return _Prepared(plan, settings, cache_dir / "onemount.log")


def _signed_in() -> TokenProvider:
    """The signed-in account's token provider (the real Graph)."""
    from onemount.auth import Authenticator, AuthError, load_config

    try:
        authenticator = Authenticator(load_config())
        if authenticator.status().account is None:
            raise _NotSignedIn("not signed in: run `onemount auth login` first")
    except AuthError as exc:
        raise _NotSignedIn(str(exc)) from None
    return authenticator


def _run(prepared: _Prepared, *, daemon: bool) -> int:
    import trio

    from onemount.engine.delta_loop import BootstrapFailed
    from onemount.fs.control import AlreadyServing
    from onemount.fs.daemon import Readiness, detach
    from onemount.fs.mount import CacheInUse, serve

    plan = prepared.plan
    plan.cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    readiness: Readiness | None = detach(prepared.log_file) if daemon else None
    started = f"mounted {plan.mountpoint} (pid {os.getpid()})"

    def ready() -> None:
        if readiness is not None:
            readiness.ready(f"{started}; log: {prepared.log_file}")
        else:
            print(started, flush=True)

    def fail(code: int, message: str) -> int:
        logging.getLogger("onemount").error("%s", message)
        if readiness is not None:
            readiness.failed(code, f"onemount mount: {message}")
        else:
            print(f"onemount mount: {message}", file=sys.stderr)
        return code

    try:
        ended = trio.run(serve, plan, ready)
    except Exception as exc:
        cause = _leaf(exc)  # trio's nurseries wrap what their tasks raise in groups
        if isinstance(cause, AlreadyServing | CacheInUse):
            return fail(2, str(cause))
        if isinstance(cause, BootstrapFailed):
            return fail(1, str(cause))
        logging.getLogger("onemount").error("the mount failed", exc_info=exc)
        return fail(1, f"the mount failed: {cause!r} (see the log)")
    message = f"unmounted {plan.mountpoint}: {_pending(ended.pending)}"
    logging.getLogger("onemount").info("%s", message)
    if readiness is None:
        print(message, flush=True)
    return 0


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside nested single-exception groups (or ``exc`` itself)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _pending(count: int) -> str:
    if count == 0:
        return "every change has reached OneDrive"
    noun = "change is" if count == 1 else "changes are"
    return f"{count} {noun} still pending (kept, sent at the next mount)"


def _configure_logging(level: str) -> None:
    from onemount.auth import TokenRedactor

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TokenRedactor())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request's URL at INFO; a download URL carries its own credential.
    for noisy in ("httpx", "httpcore", "hpack"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def run_unmount(args: argparse.Namespace) -> int:
    from onemount.fs import control
    from onemount.fs.mountpoint import UnmountFailed, absolute, is_dead, mounted_at, unmount

    mountpoint = absolute(args.mountpoint)
    try:
        answer = control.ask(mountpoint, "unmount", timeout=_UNMOUNT_TIMEOUT)
    except control.NotServing:
        entry = mounted_at(mountpoint)
        if entry is None:
            print(f"onemount unmount: {mountpoint} is not mounted", file=sys.stderr)
            return 1
        if not (entry.fstype.startswith("fuse") and is_dead(mountpoint)):
            print(f"onemount unmount: {mountpoint} is not a onemount mount ({entry.fstype})",
                  file=sys.stderr)  # fmt: skip
            return 1
        try:
            unmount(mountpoint, lazy=True)
        except UnmountFailed as exc:
            print(f"onemount unmount: {exc}", file=sys.stderr)
            return 1
        print(f"unmounted {mountpoint}: its daemon had stopped; pending changes stay queued"
              " and are sent at the next mount")  # fmt: skip
        return 0
    except OSError as exc:
        print(f"onemount unmount: {mountpoint}: {exc}", file=sys.stderr)
        return 1
    if "error" in answer:
        print(f"onemount unmount: {answer['error']}", file=sys.stderr)
        return 1
    _wait_for_exit(int(answer["pid"]))
    print(f"unmounted {mountpoint}: {_pending(int(answer['pending']))}")
    return 0


def _wait_for_exit(pid: int, timeout: float = 30.0) -> None:
    """Return once the daemon has exited (it answers just before), so a new mount of the same
    path right after never finds the old one still holding its socket and cache."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
