"""``make demo`` runs ``python -m onemount.demo``: its tour, twice in a row, and ``--stop``.

The demo runs in a scratch folder (``--root``) exactly as in a checkout: its own fake Graph
process, a real mount at ``demo-mount``, left up at the end. CI catches a broken tour here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from onemount.fs import control
from onemount.fs.mountpoint import mounted_at
from tests.fs.harness import REPO

pytestmark = [pytest.mark.fuse, pytest.mark.slow]


def demo(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "config"),
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "-m", "onemount.demo", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=180,
        check=False,
    )


def in_order(output: str, *expected: str) -> None:
    """Each of ``expected`` is a line of ``output`` (stripped), in this order."""
    lines = [line.strip() for line in output.splitlines()]
    at = 0
    for wanted in expected:
        found = [i for i, line in enumerate(lines[at:], at) if line.startswith(wanted)]
        assert found, f"{wanted!r} not found after line {at} in:\n{output}"
        at = found[0] + 1


def test_the_demo_tours_a_real_mount_twice_and_stops(tmp_path: Path) -> None:
    mountpoint = tmp_path / "demo-mount"
    try:
        first = demo(tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        in_order(
            first.stdout,
            "== 1. Mount it, as anyone can ==",
            "$ onemount mount demo-mount --graph-url http://127.0.0.1:",
            f"mounted {mountpoint} (pid ",
            "HYDRATED",  # the Documents folder: listed at once
            "GHOST                  40.0 MiB  demo-mount/Videos/Holiday 2024.mp4",
            "GHOST                     177 B  demo-mount/Documents/Welcome.txt",
            "Welcome to your onemount sample drive.",
            "HYDRATED                  177 B  demo-mount/Documents/Welcome.txt",
            "pinned demo-mount/Music: 2 files, 16.9 MiB, all on this machine",
            "DIRTY_LOCAL",
            "every change has reached OneDrive",
            "the server has it: 'Written through the mount at ",
            "visible in the mount ",
            "- (from the phone) oranges",
            "OFFLINE after ",
            "Welcome to your onemount sample drive.",
            "cat: demo-mount/Archive/2023/07/notes-3.txt: Network is down",
            f"onemount status: {mountpoint}: 1 change pending, but the mount is offline;",
            "the fake Graph is back; its probe found it after ",
            "every change has reached OneDrive",  # sent while waiting, or just before
            "the server has it: 'Written while offline'",
            "Shopping list (conflict copy ",
            "- (the phone, again) chocolate",
            "- (this machine) tea",
            "== Done in ",
            "Stop: `onemount unmount ./demo-mount` (the fake keeps running), or `make demo-stop`",
        )
        assert control.ask(mountpoint, "status", timeout=10)["connectivity"] == "ONLINE"
        assert (mountpoint / "Hello.txt").exists()  # it stays up to be explored

        second = demo(tmp_path)  # stops the first, starts afresh
        assert second.returncode == 0, second.stdout + second.stderr
        in_order(
            second.stdout,
            f"(the previous demo) unmounted {mountpoint}: every change has reached OneDrive",
            "(the previous demo) stopped the fake Graph",
            "== Done in ",
        )
    finally:
        stopped = demo(tmp_path, "--stop")
    assert stopped.returncode == 0, stopped.stderr
    in_order(stopped.stdout, f"unmounted {mountpoint}", "stopped the fake Graph")
    assert mounted_at(mountpoint) is None
    assert not (tmp_path / ".demo" / "fake.pid").exists()
    assert demo(tmp_path, "--stop").stdout == ""  # nothing left to stop
