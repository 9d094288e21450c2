"""The daemon started the way ``onemount@.service`` starts it, and systemd's view of it.

The unit is ``Type=notify``: systemd runs ExecStart with ``$NOTIFY_SOCKET`` naming a datagram
socket it listens on, and calls the mount started when ``READY=1`` arrives; ExecStop runs
``onemount unmount``. Here the test is systemd: it binds the socket, runs the unit's own
ExecStart and ExecStop lines (``%f`` replaced by the mountpoint, as systemd does) with the
settings in the user's configuration file, and reads what the daemon tells it.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from onemount.service import unit_text
from tests.engine.harness import Served
from tests.fs.harness import REPO

pytestmark = pytest.mark.fuse


def unit_commands(executable: Path) -> dict[str, list[str]]:
    """ExecStart and ExecStop of the unit this onemount writes, as argv lists."""
    found: dict[str, list[str]] = {}
    for line in unit_text(executable, REPO / "docs" / "service.md").splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStart", "ExecStop"):
            found[key] = shlex.split(value)
    return found


def messages(sock: socket.socket) -> list[str]:
    """One datagram from the daemon, as its fields."""
    data = sock.recv(4096)
    return data.decode().splitlines()


def test_the_unit_s_exec_start_says_ready_when_the_mount_answers(
    tmp_path: Path, served: Served
) -> None:
    mountpoint = tmp_path / "OneDrive"
    mountpoint.mkdir()
    token = tmp_path / "token"
    token.write_text(served.token + "\n")
    token.chmod(0o600)
    config = tmp_path / "config" / "onemount" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'graph_url = "{served.base_url}"\ntoken_file = "{token}"\n'
        f'cache_dir = "{tmp_path / "cache"}"\n'
    )
    executable = Path(sys.executable).parent / "onemount"
    commands = unit_commands(executable)
    assert commands["ExecStart"] == [str(executable), "mount", "%f"]
    start = [str(mountpoint) if arg == "%f" else arg for arg in commands["ExecStart"]]
    stop = [str(mountpoint) if arg == "%f" else arg for arg in commands["ExecStop"]]

    notify_socket = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify_socket))
        sock.settimeout(120)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "NOTIFY_SOCKET": str(notify_socket),
        }
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen(start, env=env, cwd="/", stdout=log, stderr=log)
        try:
            ready = messages(sock)
            assert ready == ["READY=1", f"STATUS=serving {mountpoint}"]
            assert "Pictures" in os.listdir(mountpoint)  # READY=1 meant: it answers

            stopped = subprocess.run(stop, env=env, capture_output=True, text=True, timeout=120)
            assert stopped.returncode == 0, stopped.stderr
            assert messages(sock) == ["STOPPING=1", "STATUS=sending pending changes"]
            assert daemon.wait(timeout=60) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
                subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)
            log.close()
    assert os.listdir(mountpoint) == []
