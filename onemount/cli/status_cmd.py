"""``onemount status [PATH...]``: what each file is doing, and what each mount is doing.

A file's status is read through the mount itself: the FUSE layer serves ``user.onemount.state``,
``.pinned``, ``.error`` and ``.id`` as extended attributes (onemount/fs/status.py), so this is
exactly what ``getfattr -d`` shows. A mount's status comes from its daemon over the control
socket: connectivity, the outbox, downloads in flight, the cache against its limit, conflicts
and errors. Without a PATH every running mount is listed; a PATH that is a mountpoint shows
that mount.

``--wait`` follows the outbox of the mounts concerned until every change has reached OneDrive
(exit 0), and stops with exit 1 and the reason when that cannot happen now: the mount is
offline or needs a new sign-in, a change failed for good, or ``--timeout`` ran out.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from onemount.cli.mounted import Located, ask, locate, mount_status, running
from onemount.cli.terminal import Failure, Progress, add_log_level, ago, count, guarded, size

#: How often ``--wait`` asks the daemons (a few indexed queries each: nothing to them).
POLL = 0.2
_XATTRS = ("state", "pinned", "error", "id")
#: Connectivity in which the outbox cannot move, and what the user can do about it.
_STUCK = {
    "OFFLINE": "the mount is offline; the changes are kept and sent when it is back",
    "AUTH_REQUIRED": "the mount needs a new sign-in (`onemount auth login`); the changes are kept",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="what files and mounts are doing (pending uploads, downloads, errors)",
        description="Show each PATH's sync state, pin, size and last error; without a PATH,"
        " every running mount: connectivity, pending changes, downloads in flight, cache use,"
        " conflicts and errors. --wait waits until every change has reached OneDrive.",
        epilog="Exit status: 0 ok (with --wait: everything sent); 1 a PATH not on a onemount"
        " mount, a daemon not answering, or with --wait: offline, a failed change, the timeout;"
        " 2 bad usage.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files, folders or mountpoints")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--wait", action="store_true", help="wait until the outbox has drained (progress bar)"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="with --wait: give up after this long"
    )
    add_log_level(parser)
    parser.set_defaults(handler=_status)


@dataclass(frozen=True)
class FileStatus:
    """One PATH as ``status`` shows it."""

    path: str
    mountpoint: str
    drive_path: str
    kind: str
    state: str
    pinned: bool
    size: int  # a folder's: the files below it
    error: str | None
    id: str | None
    files: int | None = None  # a folder's files, at any depth
    files_here: int | None = None  # ... of which this many have their bytes on this machine


def file_status(place: Located) -> FileStatus:
    """Read ``place``'s status attributes through the mount."""
    local = place.local
    try:
        info = os.lstat(local)
        values = {name: _xattr(local, name) for name in _XATTRS}
    except OSError as exc:
        if exc.errno in (errno.ENOTCONN, errno.ECONNABORTED):
            raise Failure(f"{place.given}: the mount's daemon has stopped") from None
        raise Failure(f"{place.given}: {exc.strerror}") from None
    if values["state"] is None:
        raise Failure(f"{place.given}: the mount gives no status for it")
    found = FileStatus(
        path=place.given,
        mountpoint=str(place.mountpoint),
        drive_path=place.drive_path,
        kind="folder" if stat.S_ISDIR(info.st_mode) else "file",
        state=values["state"],
        pinned=values["pinned"] == "1",
        size=info.st_size,
        error=values["error"],
        id=values["id"],
    )
    if found.kind == "file":
        return found
    below = ask(place.mountpoint, "subtree", {"path": place.drive_path}, about=place.given)
    return replace(found, size=below["bytes"], files=below["files"], files_here=below["cached"])


def _xattr(path: Path, name: str) -> str | None:
    try:
        return os.getxattr(path, f"user.onemount.{name}", follow_symlinks=False).decode()
    except OSError as exc:
        if exc.errno == errno.ENODATA:
            return None
        raise


@guarded("status")
def _status(args: argparse.Namespace) -> int:
    if args.wait:
        places = [locate(p) for p in args.paths]
        mountpoints = _mountpoints(places) if places else running()
        return wait(mountpoints, timeout=args.timeout, as_json=args.json)
    files: list[FileStatus] = []
    reports: list[dict[str, Any]] = []
    problems: list[str] = []
    for ask_about in args.paths or [str(m) for m in running()]:
        try:
            place = locate(ask_about)
            if place.is_mountpoint:
                reports.append(mount_status(place.mountpoint))
            else:
                files.append(file_status(place))
        except Failure as exc:
            problems.append(str(exc))
            if not args.json:
                print(f"onemount status: {exc}", file=sys.stderr)
    if args.json:
        shown = {"files": [asdict(f) for f in files], "mounts": reports, "problems": problems}
        print(json.dumps(shown, indent=2))
    else:
        for found in files:
            print(render_file(found))
        for report in reports:
            print(render_mount(report))
        if not args.paths and not reports and not problems:
            print("no onemount mount is running (`onemount mount MOUNTPOINT` starts one)")
    return 1 if problems else 0


def _mountpoints(places: list[Located]) -> list[Path]:
    found: list[Path] = []
    for place in places:
        if place.mountpoint not in found:
            found.append(place.mountpoint)
    return found


def render_file(found: FileStatus) -> str:
    pin = "pinned" if found.pinned else ""
    line = f"{found.state:<13} {pin:<6} {size(found.size):>10}  {found.path}"
    if found.kind == "folder":
        below = count(found.files or 0, "file")
        line += f"{'' if found.path.endswith('/') else '/'}  ({below} below,"
        line += f" {found.files_here} on this machine)"
    return line + (f"\n    error: {found.error}" if found.error else "")


def render_mount(report: dict[str, Any]) -> str:
    """A mount's status as a short block of lines."""
    outbox, cache = report["outbox"], report["cache"]
    state = report["connectivity"]
    if report.get("throttled_for"):
        state += f" (for {report['throttled_for']:g} s more)"
    if report["read_only"]:
        state += ", read-only"
    if not report["enumerated"]:
        state += ", first enumeration in progress"
    lines = [f"{report['mountpoint']}  {state}  (pid {report['pid']}, cache {report['cache_dir']})"]
    kinds = ", ".join(f"{n} {kind}" for kind, n in outbox["by_kind"].items() if n)
    pending = f"{outbox['pending']} pending ({kinds})" if outbox["pending"] else "nothing pending"
    oldest = outbox["oldest"]
    if oldest is not None:
        pending += f"; oldest: {oldest['kind']} of {oldest['path']}, {ago(oldest['since'])} ago"
    lines.append(f"  outbox:     {pending}")
    lines.extend(f"              sending {path}" for path in outbox["sending"])
    lines.extend(
        f"              retrying {r['kind']} of {r['path']} (attempt {r['attempts']}): {r['error']}"
        for r in outbox["retrying"]
    )
    downloads = f"{report['hydrating']} in flight" if report["hydrating"] else "none in flight"
    lines.append(f"  downloads:  {downloads}")
    lines.extend(f"              {path}" for path in report["hydrating_paths"])
    limit = "no limit" if cache["limit_bytes"] is None else f"limit {size(cache['limit_bytes'])}"
    lines.append(
        f"  cache:      {size(cache['used_bytes'])} used, {limit}"
        f" ({size(cache['free_bytes'])} free on disk, {size(cache['min_free_bytes'])} kept free)"
    )
    conflicts = report["conflicts"]
    listed = f"{len(conflicts)} (`onemount conflicts list`)" if conflicts else "none"
    lines.append(f"  conflicts:  {listed}")
    lines.append(f"  errors:     {report['errors'] or 'none'}")
    lines.extend(f"              {e['path']}: {e['error']}" for e in report["error_items"])
    return "\n".join(lines)


# -- --wait ------------------------------------------------------------------------------------


def wait(mountpoints: list[Path], *, timeout: float | None, as_json: bool) -> int:
    """Follow the outboxes of ``mountpoints`` until they drain (0) or cannot (1, the reason)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    most = 0
    with Progress("sending changes") as progress:
        while True:
            reports = [mount_status(m) for m in mountpoints]
            left = sum(_unsent(r) for r in reports)
            most = max(most, left)
            if most:
                progress.update(most - left, most, _sending(reports))
            reason = _why_not(reports)
            if reason is None and left == 0:
                break
            if reason is None and deadline is not None and time.monotonic() >= deadline:
                reason = f"timed out after {timeout:g} s with {count(left, 'change')} still pending"
            if reason is not None:
                if as_json:
                    print(json.dumps({"drained": False, "reason": reason, "mounts": reports}))
                raise Failure(reason)
            time.sleep(POLL)
    if as_json:
        print(json.dumps({"drained": True, "mounts": reports}))
    else:
        sent = f" ({count(most, 'change')} sent while waiting)" if most else ""
        print(f"every change has reached OneDrive{sent}")
    return 0


def _unsent(report: dict[str, Any]) -> int:
    """Changes not on the server yet: the outbox and the conflicts still to settle."""
    return int(report["outbox"]["pending"]) + len(report["conflicts"])


def _why_not(reports: list[dict[str, Any]]) -> str | None:
    """Why the outbox cannot drain now, or None while it can."""
    for report in reports:
        stuck, unsent = _STUCK.get(report["connectivity"]), _unsent(report)
        if stuck is not None and unsent:
            return f"{report['mountpoint']}: {count(unsent, 'change')} pending, but {stuck}"
        failed = [e for e in report["error_items"] if e["unsent"]]
        if failed:
            first = failed[0]
            more = f" (and {len(failed) - 1} more: `onemount status`)" if len(failed) > 1 else ""
            return f"{first['path']} could not be sent: {first['error']}{more}"
    return None


def _sending(reports: list[dict[str, Any]]) -> str:
    for report in reports:
        if report["outbox"]["sending"]:
            return str(report["outbox"]["sending"][0])
    return ""
