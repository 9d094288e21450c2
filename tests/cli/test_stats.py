"""``onemount stats`` beside a running mount: read-only, every state listed, zeros included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onemount.store.schema import STATES
from tests.cli.conftest import cli, one_line
from tests.fs.harness import Mount, hydrated

pytestmark = pytest.mark.fuse


def test_stats_of_a_running_mount(mount: Mount) -> None:
    hydrated(mount.path("Documents/Welcome.txt"))
    done = cli(mount, "stats", str(mount.mountpoint))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "items by state:"
    listed = dict(line.split() for line in lines[1 : 1 + len(STATES)])
    assert list(listed) == list(STATES)  # every state, in the machine's order
    assert listed["CONFLICT"] == "0" and listed["ERROR"] == "0" and listed["HYDRATED"] != "0"
    assert "directories:" in lines and "file sizes:" in lines

    database = mount.cache_dir / "metadata_v2.db"
    stats = json.loads(cli(mount, "stats", "--json", "--db", str(database)).stdout)
    assert sum(stats["states"].values()) == sum(int(n) for n in listed.values())

    # Read-only: the mount goes on writing while it is looked at.
    mount.path("after stats.txt").write_text("still writable\n")
    mount.sync()
    assert mount.remote_bytes("after stats.txt") == b"still writable\n"


def test_stats_needs_a_mount_or_a_database(mount: Mount, tmp_path: Path) -> None:
    done = cli(mount, "stats")  # the mount's environment has no $ONEMOUNT_DB
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        "onemount stats: give a MOUNTPOINT, --db PATH or set $ONEMOUNT_DB"
    )
    done = cli(mount, "stats", str(mount.path("Documents")))
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        f"onemount stats: {mount.path('Documents')} is inside the mount at {mount.mountpoint},"
        " not its mountpoint"
    )
    done = cli(mount, "stats", "--db", str(tmp_path / "none.db"))
    assert done.returncode == 1 and "no metadata_v2 database" in one_line(done.stderr)
