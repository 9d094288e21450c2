"""Real mounts for the FUSE tests: ``onemount mount`` in its own process, the fake in a thread.

:class:`Mount` runs the real command line (``python -m onemount mount ... --daemon``), which
returns once the mount answers, so a test never sleeps waiting for it. The fake Graph is served
from a thread of the test process (:class:`tests.engine.harness.Served`, which can stop and
restart it on the same port), so a test can look at the drive itself (``mount.drive``) to see
what reached "the server", and act on it as another device would. ``sync()`` asks the daemon,
through its control socket, to send what is ready and run one delta cycle: the event a test
waits on before it looks at the other side.

Every mount of a test uses its own configuration, cache and runtime folders (``XDG_*`` under
the test's tmp_path) and the default settings (``sync`` and ``unmount`` send what is pending
without waiting out the upload delay), and is unmounted, or killed and lazily unmounted, at
the end of the test.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onemount.fakegraph import FakeDrive, Item
from onemount.fs import control
from onemount.fs.mountpoint import mounted_at, unmount
from tests.engine.harness import Served

REPO = Path(__file__).resolve().parents[2]


def onemount(
    *args: str, env: dict[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """The real command line, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "onemount", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def wait_for_exit(pid: int, timeout: float = 60.0) -> bool:
    """Wait for any process (not only a child) to exit; False if it outlived ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return bool(ready)


@dataclass
class Mount:
    """One mount of the fake drive at ``root/od`` (see the module docstring)."""

    root: Path
    server: Served
    extra_env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None

    def __post_init__(self) -> None:
        self.mountpoint = self.root / "od"
        self.cache_dir = self.root / "cache"
        self.token_file = self.root / "token"
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.token_file.write_text(self.server.token + "\n")
        self.token_file.chmod(0o600)

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root / "home"),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_CACHE_HOME": str(self.root / "xdg-cache"),
            "ONEMOUNT_LOG_LEVEL": os.environ.get("ONEMOUNT_TEST_LOG_LEVEL", "info"),
            "PYTHONPATH": str(REPO),
            **self.extra_env,
        }

    @property
    def drive(self) -> FakeDrive:
        return self.server.graph.drive

    def arguments(self, *extra: str) -> list[str]:
        return [
            "mount",
            str(self.mountpoint),
            "--cache-dir",
            str(self.cache_dir),
            "--graph-url",
            self.server.base_url,
            "--token-file",
            str(self.token_file),
            *extra,
        ]

    def start(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """``onemount mount --daemon``: returns once the mount answers (asserting it did)."""
        done = self.try_start(*extra)
        assert done.returncode == 0, f"mount failed ({done.returncode}):\n{done.stderr}"
        return done

    def try_start(self, *extra: str) -> subprocess.CompletedProcess[str]:
        done = onemount(*self.arguments("--daemon", *extra), env=self.env)
        if done.returncode == 0:
            self.pid = int(self.status()["pid"])
        return done

    def status(self) -> dict[str, Any]:
        return control.ask(self.mountpoint, "status", timeout=30)

    def sync(self) -> dict[str, Any]:
        """Send what is ready, then run one delta cycle (the daemon's ``sync`` command)."""
        answer = control.ask(self.mountpoint, "sync", timeout=120)
        assert "error" not in answer, answer
        return answer

    def unmount(self) -> subprocess.CompletedProcess[str]:
        done = onemount("unmount", str(self.mountpoint), env=self.env)
        if done.returncode == 0:
            self.pid = None
        return done

    def kill(self) -> None:
        """SIGKILL the daemon, as a crash would; the mount is left dead (ENOTCONN)."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        assert wait_for_exit(self.pid)
        self.pid = None

    def path(self, relative: str) -> Path:
        return self.mountpoint / relative

    def item(self, relative: str) -> Item:
        """The drive's item at ``relative`` (as the server holds it)."""
        return self.drive.resolve(self.drive.root_id, [p for p in relative.split("/") if p])

    def remote_bytes(self, relative: str) -> bytes:
        return self.drive.read_all(self.item(relative).id)

    def log(self) -> str:
        log = self.cache_dir / "onemount.log"
        return log.read_text() if log.exists() else ""

    def close(self) -> None:
        """Leave nothing mounted or running, whatever the test did: SIGTERM (a clean unmount
        that sends what is pending until the drain deadline), then whatever is left by force."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGTERM)
            if not wait_for_exit(self.pid):
                os.kill(self.pid, signal.SIGKILL)
                wait_for_exit(self.pid)
            self.pid = None
        if mounted_at(self.mountpoint) is not None:
            unmount(self.mountpoint, lazy=True)


def xattr(path: Path, name: str) -> str:
    return os.getxattr(path, name).decode()


def hydrated(path: Path) -> str:
    """``path`` read to its end, as ``cat`` does, and its state then: the end of a file is
    served once its download is verified and kept, so a GHOST is HYDRATED here."""
    path.read_bytes()
    return xattr(path, "user.onemount.state")
