"""The mountpoint checks, and a crashed daemon's dead mount recovered by the next mount."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from onemount.fs.mountpoint import (
    MountpointError,
    absolute,
    is_dead,
    mounted_at,
    mounts,
    prepare,
)


def test_a_missing_path_a_file_and_a_full_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MountpointError, match="does not exist"):
        prepare(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(MountpointError, match="not a folder"):
        prepare(tmp_path / "file")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / ".hidden").write_text("x")
    with pytest.raises(MountpointError, match="not empty"):
        prepare(tmp_path / "full")
    (tmp_path / "empty").mkdir()
    assert prepare(tmp_path / "empty") == tmp_path / "empty"


def test_a_live_mount_is_refused() -> None:
    with pytest.raises(MountpointError, match="already mounted"):
        prepare(Path("/proc"))


def test_relative_paths_and_symlinked_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    assert absolute(Path("link/od")) == tmp_path / "real" / "od"


def test_the_mount_table_unescapes_spaces(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(
        "36 35 0:32 / /tmp/with\\040space rw,relatime shared:1 - fuse.onemount onemount rw\n"
    )
    [entry] = mounts(table)
    assert entry.mountpoint == Path("/tmp/with space")
    assert entry.fstype == "fuse.onemount"


@pytest.mark.fuse
def test_a_dead_mount_is_recovered(tmp_path: Path) -> None:
    mountpoint = tmp_path / "od"
    mountpoint.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.fs.tiny_fs", str(mountpoint)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        with pytest.raises(MountpointError, match="already mounted"):
            prepare(mountpoint)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert is_dead(mountpoint)
        with pytest.raises(OSError, match="not connected"):
            os.listdir(mountpoint)
        assert prepare(mountpoint) == mountpoint
        assert mounted_at(mountpoint) is None
        assert os.listdir(mountpoint) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if mounted_at(mountpoint) is not None:
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)
