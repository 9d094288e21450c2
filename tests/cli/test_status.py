"""``onemount status``: per file, per mount, every running mount, and ``--wait``."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from onemount.fakegraph.faults import FaultRule
from onemount.fakegraph.sample import seed_sample
from tests.cli.conftest import cli, one_line
from tests.engine.harness import served as serving
from tests.fs.harness import Mount, hydrated

pytestmark = pytest.mark.fuse


def test_a_file_shows_its_state_pin_size_and_error(mount: Mount) -> None:
    welcome = mount.path("Documents/Welcome.txt")
    done = cli(mount, "status", str(welcome))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["GHOST", "177", "B", str(welcome)]

    assert hydrated(welcome) == "HYDRATED"
    os.setxattr(welcome, "user.onemount.pinned", b"1")
    found = json.loads(cli(mount, "status", "--json", str(welcome)).stdout)["files"]
    assert found == [
        {
            "path": str(welcome),
            "mountpoint": str(mount.mountpoint),
            "drive_path": "/Documents/Welcome.txt",
            "kind": "file",
            "state": "HYDRATED",
            "pinned": True,
            "size": 177,
            "error": None,
            "id": mount.item("Documents/Welcome.txt").id,
            "files": None,
            "files_here": None,
        }
    ]

    # A download the server refuses: ERROR, and the reason in the error column.
    mount.server.graph.faults.add(
        FaultRule(path="/v1.0/me/drive/items/*/content", status=403, count=-1)
    )
    receipts = mount.path("Documents/Taxes 2025/receipts.csv")
    with pytest.raises(OSError) as refused:
        receipts.read_bytes()
    assert refused.value.errno == errno.EIO
    lines = cli(mount, "status", str(receipts)).stdout.splitlines()
    assert lines[0].split()[0] == "ERROR"
    assert lines[1].startswith("    error: ") and "refused the download" in lines[1]


def test_a_folder_counts_the_files_below_it(mount: Mount) -> None:
    hydrated(mount.path("Pictures/avatar.png"))
    done = cli(mount, "status", str(mount.path("Pictures")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("Pictures/  (3 files below, 1 on this machine)")


def test_paths_that_are_not_there_or_not_a_mount_fail_alone(mount: Mount, tmp_path: Path) -> None:
    welcome = mount.path("Documents/Welcome.txt")
    done = cli(mount, "status", str(mount.path("nope.txt")), str(welcome), str(tmp_path))
    assert done.returncode == 1
    assert "Documents/Welcome.txt" in done.stdout  # the good path is still shown
    assert done.stderr.splitlines() == [
        f"onemount status: {mount.path('nope.txt')}: No such file or directory",
        f"onemount status: {tmp_path}: not on a onemount mount (`onemount status` lists them)",
    ]


def test_a_mountpoint_shows_the_mount(mount: Mount) -> None:
    done = cli(mount, "status", str(mount.mountpoint))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{mount.mountpoint}  ONLINE  (pid {mount.pid}, cache ")
    assert lines[1:4] == [
        "  outbox:     nothing pending",
        "  downloads:  none in flight",
        lines[3],  # the cache's numbers depend on the disk
    ]
    assert lines[3].startswith("  cache:      ") and "no limit" in lines[3]
    assert lines[4:] == ["  conflicts:  none", "  errors:     none"]

    report = json.loads(cli(mount, "status", "--json", str(mount.mountpoint)).stdout)["mounts"][0]
    assert report["connectivity"] == "ONLINE" and report["pid"] == mount.pid
    assert report["outbox"]["by_kind"] == {"upload": 0, "delete": 0, "move": 0, "mkdir": 0}
    assert report["cache"]["limit_bytes"] is None and report["enumerated"] is True


def test_pending_changes_show_in_the_outbox(unstarted: Mount) -> None:
    mount = unstarted
    mount.extra_env["ONEMOUNT_UPLOAD_IDLE_DELAY"] = "600"  # uploads and deletes wait: 10 min
    mount.start()
    mount.path("Documents/a.txt").write_text("a\n")
    mount.path("Music/Band - Song.mp3").unlink()
    lines = cli(mount, "status", str(mount.mountpoint)).stdout.splitlines()
    pending = "  outbox:     2 pending (1 upload, 1 delete); oldest: upload of /Documents/a.txt, "
    assert lines[1].startswith(pending) and lines[1].endswith(" ago")


def test_without_a_path_every_running_mount_is_listed(mount: Mount, tmp_path: Path) -> None:
    """Several accounts at once: each mount its own fake, cache and store."""
    with serving(tmp_path / "graph2") as other_server:
        seed_sample(other_server.graph.drive)
        other = Mount(tmp_path / "m2", other_server)
        try:
            other.start()
            pids = [mount.pid, other.pid]
            done = cli(mount, "status")
            report = json.loads(cli(mount, "status", "--json").stdout)
        finally:
            other.close()
    both = (str(mount.mountpoint), str(other.mountpoint))
    ours = [m for m in report["mounts"] if m["mountpoint"] in both]
    assert [m["pid"] for m in ours] == pids  # in the mount table's order
    assert {m["cache_dir"] for m in ours} == {str(mount.cache_dir), str(other.cache_dir)}
    assert f"{mount.mountpoint}  ONLINE" in done.stdout
    assert f"{other.mountpoint}  ONLINE" in done.stdout
    # Other onemount mounts on this machine are listed too; one not answering is reported on
    # stderr and makes it exit 1. (Judged from this run's own report: a mount elsewhere on the
    # machine may start or stop between this command and any later look at it.)
    silent = [line for line in done.stderr.splitlines() if line.startswith("onemount status: ")]
    assert not any(str(m) in line for m in both for line in silent), done.stderr
    assert done.returncode == (1 if silent else 0), done.stderr


# --wait names the mount: without a PATH it waits for every mount on the machine.


def test_wait_on_a_drained_outbox(mount: Mount) -> None:
    done = cli(mount, "status", "--wait", str(mount.mountpoint))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "every change has reached OneDrive\n"

    mount.path("Documents/waited.txt").write_text("sent before --wait returns\n")
    done = cli(mount, "status", "--wait", str(mount.mountpoint))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "every change has reached OneDrive (1 change sent while waiting)\n"
    assert done.stderr.splitlines()[-1] == "sending changes: 1 of 1"  # plain lines: no terminal
    assert mount.remote_bytes("Documents/waited.txt") == b"sent before --wait returns\n"
    answer = cli(mount, "status", "--wait", "--json", str(mount.mountpoint)).stdout
    assert json.loads(answer)["drained"] is True


@pytest.mark.slow  # a remount with Graph unreachable, and its return
def test_wait_on_an_offline_outbox_says_so(unstarted: Mount) -> None:
    mount, server = unstarted, unstarted.server
    mount.start()
    assert mount.unmount().returncode == 0
    server.stop()
    mount.start()  # from the store alone: OFFLINE
    mount.path("offline.txt").write_text("kept\n")
    done = cli(mount, "status", "--wait", str(mount.mountpoint))
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        f"onemount status: {mount.mountpoint}: 1 change pending, but the mount is offline;"
        " the changes are kept and sent when it is back"
    )
    answer = json.loads(cli(mount, "status", "--wait", "--json", str(mount.mountpoint)).stdout)
    assert answer["drained"] is False and "offline" in answer["reason"]

    server.start()
    mount.sync()  # returns once the mount is back online and has sent what was ready
    done = cli(mount, "status", "--wait", str(mount.mountpoint))
    assert done.returncode == 0, done.stderr
    assert mount.remote_bytes("offline.txt") == b"kept\n"


def test_wait_stops_at_its_timeout(unstarted: Mount) -> None:
    mount = unstarted
    mount.extra_env["ONEMOUNT_UPLOAD_IDLE_DELAY"] = "600"
    mount.start()
    mount.path("slow.txt").write_text("waits for the idle delay\n")
    done = cli(mount, "status", "--wait", "--timeout", "0.5", str(mount.mountpoint))
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        "onemount status: timed out after 0.5 s with 1 change still pending"
    )


def test_wait_on_a_change_the_server_refuses(mount: Mount) -> None:
    mount.server.graph.faults.add(FaultRule(path="*/content", method="PUT", status=403, count=-1))
    mount.path("refused.txt").write_text("the server says no\n")
    done = cli(mount, "status", "--wait", "--timeout", "60", str(mount.mountpoint))
    assert done.returncode == 1
    assert one_line(done.stderr).startswith("onemount status: /refused.txt could not be sent: ")
    lines = cli(mount, "status", str(mount.path("refused.txt"))).stdout.splitlines()
    assert lines[0].split()[0] == "ERROR" and lines[1].startswith("    error: ")
    assert mount.path("refused.txt").read_text() == "the server says no\n"  # nothing lost


def test_help_and_usage(mount: Mount) -> None:
    done = cli(mount, "status", "--help")
    assert done.returncode == 0 and "Exit status: 0 ok" in done.stdout
    assert cli(mount, "status", "--timeout", "soon").returncode == 2
