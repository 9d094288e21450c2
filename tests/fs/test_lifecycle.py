"""A mount's life on a real kernel: refused starts, unmount and remount, SIGTERM, SIGKILL, a
mount started with Graph unreachable, read-only and offline mounts.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from onemount.fs.mountpoint import mounted_at
from tests.engine.harness import Served
from tests.fs.harness import REPO, Mount, onemount, wait_for_exit, xattr

pytestmark = pytest.mark.fuse


def test_a_full_or_mounted_mountpoint_and_a_readable_token_are_refused(
    unstarted: Mount,
) -> None:
    (unstarted.mountpoint / "file").write_text("x")
    done = unstarted.try_start()
    assert done.returncode == 2 and "is not empty" in done.stderr
    (unstarted.mountpoint / "file").unlink()

    unstarted.token_file.chmod(0o644)
    done = unstarted.try_start()
    assert done.returncode == 2 and "chmod 600" in done.stderr
    assert unstarted.server.token not in done.stderr + done.stdout
    unstarted.token_file.chmod(0o600)

    unstarted.start()
    done = unstarted.try_start()
    assert done.returncode == 2 and "already mounted" in done.stderr


def test_unmount_and_remount_keep_everything(unstarted: Mount) -> None:
    mount = unstarted
    mount.start()
    mount.path("kept").mkdir()
    mount.path("kept/file.txt").write_text("kept across mounts\n")
    mount.path("kept/file.txt").chmod(0o600)
    os.utime(mount.path("kept/file.txt"), (1_500_000_000, 1_500_000_000))
    assert mount.path("Documents/Welcome.txt").read_text().startswith("Welcome")
    inode = mount.path("kept/file.txt").stat().st_ino
    done = mount.unmount()
    assert done.returncode == 0, done.stderr
    assert "every change has reached OneDrive" in done.stdout
    assert mounted_at(mount.mountpoint) is None and os.listdir(mount.mountpoint) == []

    mount.start()
    kept = mount.path("kept/file.txt")
    assert kept.read_text() == "kept across mounts\n"
    assert kept.stat().st_ino == inode
    assert kept.stat().st_mtime == 1_500_000_000
    assert kept.stat().st_mode & 0o777 == 0o600
    assert xattr(mount.path("Documents/Welcome.txt"), "user.onemount.state") == "HYDRATED"
    assert mount.remote_bytes("kept/file.txt") == b"kept across mounts\n"


def test_unmount_refused_while_a_file_is_open(mount: Mount) -> None:
    with mount.path("Documents/Welcome.txt").open("rb"):
        done = mount.unmount()
        assert done.returncode == 1 and "busy" in done.stderr.lower()
        assert mount.path("Documents").is_dir()
    assert mount.unmount().returncode == 0


def test_sigterm_and_sigint_unmount_cleanly(unstarted: Mount) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        log = (unstarted.root / f"foreground-{signum}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "onemount", *unstarted.arguments()],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=REPO,
            env=unstarted.env,
        )
        assert process.stdout is not None
        assert process.stdout.readline().startswith("mounted ")
        unstarted.path(f"written before {signum}").write_text("x")
        process.send_signal(signum)
        assert process.wait(timeout=60) == 0
        assert "unmounted" in process.stdout.read()
        log.close()
        assert mounted_at(unstarted.mountpoint) is None
    assert unstarted.remote_bytes(f"written before {signal.SIGINT}") == b"x"


def test_sigkill_then_remount_loses_nothing_acknowledged(unstarted: Mount) -> None:
    mount = unstarted
    mount.start()
    assert mount.unmount().returncode == 0
    mount.start("--offline")  # nothing leaves before the crash: all of it must survive it
    mount.path("crash").mkdir()
    payload = os.urandom(3 << 20)
    for index in range(10):
        mount.path(f"crash/{index}.bin").write_bytes(payload[index:])
    fd = os.open(mount.path("crash/synced.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"fsynced, still open at the crash\n")
    os.fsync(fd)
    mount.path("Documents/Welcome.txt").rename(mount.path("Documents/Renamed.txt"))
    mount.path("Music/Band - Song.mp3").unlink()
    mount.kill()
    with pytest.raises(OSError) as closing:  # its flush cannot reach a dead daemon
        os.close(fd)
    assert closing.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as dead:
        os.statvfs(mount.mountpoint)
    assert dead.value.errno == errno.ENOTCONN

    restarted = mount.start()  # recovers the dead mountpoint, sends what the crash left queued
    assert "daemon is gone" in restarted.stderr
    for index in range(10):
        assert mount.path(f"crash/{index}.bin").read_bytes() == payload[index:]
    assert mount.path("crash/synced.bin").read_bytes() == b"fsynced, still open at the crash\n"
    mount.sync()
    assert mount.status()["pending"] == 0
    for index in range(10):
        assert mount.remote_bytes(f"crash/{index}.bin") == payload[index:]
    assert mount.remote_bytes("crash/synced.bin") == b"fsynced, still open at the crash\n"
    assert mount.drive.child(mount.item("Documents").id, "Renamed.txt") is not None
    assert mount.drive.child(mount.item("Music").id, "Band - Song.mp3") is None


def test_a_first_mount_with_graph_unreachable_says_so(unstarted: Mount) -> None:
    unstarted.server.stop()
    done = unstarted.try_start()
    assert done.returncode == 1
    assert "Graph" in done.stderr or "reach" in done.stderr
    assert mounted_at(unstarted.mountpoint) is None


def test_a_mount_with_graph_unreachable_serves_the_store(unstarted: Mount) -> None:
    mount, server = unstarted, unstarted.server
    mount.start()
    assert mount.path("Documents/Welcome.txt").read_text().startswith("Welcome")
    assert mount.unmount().returncode == 0
    server.stop()

    mount.start()
    assert "Pictures" in os.listdir(mount.mountpoint)
    assert mount.path("Documents/Welcome.txt").read_text().startswith("Welcome")
    with pytest.raises(OSError) as offline:
        mount.path("Projects/onemount/README.md").read_bytes()
    assert offline.value.errno == errno.ENETDOWN
    mount.path("while offline.txt").write_text("queued\n")
    assert mount.status()["pending"] >= 1
    assert mount.unmount().returncode == 0

    server.start()
    mount.start()
    mount.sync()
    assert mount.remote_bytes("while offline.txt") == b"queued\n"


def test_read_only_and_offline(unstarted: Mount, served: Served) -> None:
    mount = unstarted
    mount.start()
    assert mount.path("Documents/Welcome.txt").read_text().startswith("Welcome")
    assert mount.unmount().returncode == 0
    served.graph.faults.clear_log()

    mount.start("--read-only", "--offline")
    assert mount.path("Documents/Welcome.txt").read_text().startswith("Welcome")
    for attempt in (
        lambda: mount.path("new.txt").write_text("x"),
        lambda: mount.path("Pictures").rename(mount.path("Photos")),
        lambda: mount.path("Documents/Welcome.txt").unlink(),
        lambda: mount.path("folder").mkdir(),
    ):
        with pytest.raises(OSError) as refused:
            attempt()
        assert refused.value.errno == errno.EROFS
    assert mount.unmount().returncode == 0
    assert served.graph.faults.requests() == []  # --offline: not one request


def test_unmount_of_something_else(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    done = onemount("unmount", str(tmp_path), env=env)
    assert done.returncode == 1 and "not mounted" in done.stderr
    done = onemount("unmount", "/proc", env=env)
    assert done.returncode == 1 and "not a onemount mount" in done.stderr
    assert wait_for_exit(os.getpid(), timeout=0) is False  # the helper waits on any process
