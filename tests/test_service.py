"""The systemd user unit: escaped instance names, a unit systemd accepts, sd_notify readiness."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from onemount import sdnotify, service

ONEMOUNT = [sys.executable, "-m", "onemount"]


@pytest.mark.parametrize(
    "path",
    ["/home/me/OneDrive", "/home/me/One Drive", "/mnt/.hidden/x", "/srv/Café-ü/a_b:c", "/"],
)
def test_instance_names_match_systemd_escape(path: str) -> None:
    if shutil.which("systemd-escape") is None:
        pytest.skip("systemd-escape is not installed: nothing to compare the escaping with")
    expected = subprocess.run(
        ["systemd-escape", "--path", path], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert service.escape_path(Path(path)) == expected


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit cannot be verified here")
    executable = Path(shutil.which("onemount") or sys.executable).resolve()
    unit = tmp_path / service.instance(Path("/home/me/OneDrive"))
    unit.write_text(service.unit_text(executable, tmp_path / "service.md"))
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert "Type=notify" in unit.read_text() and "ExecStop=" in unit.read_text()


def test_install_writes_the_template_and_says_what_it_enables(tmp_path: Path) -> None:
    mountpoint = tmp_path / "One Drive"
    done = subprocess.run(
        [*ONEMOUNT, "service", "install", str(mountpoint), "--unit-dir", str(tmp_path / "units"),
         "--dry-run"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "units" / "onemount@.service"
    assert "ExecStart=" in unit.read_text() and " mount %f" in unit.read_text()
    name = service.instance(mountpoint)
    assert f"would run: systemctl --user enable --now {name}" in done.stdout


def test_sd_notify_reaches_the_socket_systemd_listens_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sdnotify.notify("READY=1") is False or "NOTIFY_SOCKET" in os.environ
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert sdnotify.notify("READY=1", "STATUS=serving") is True
        assert listener.recv(1024) == b"READY=1\nSTATUS=serving"
