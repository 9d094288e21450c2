"""``onemount pin`` and ``unpin``: folders recursively, the wait for downloads, its failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from onemount.fakegraph.faults import FaultRule
from tests.cli.conftest import cli, one_line
from tests.fs.harness import Mount, xattr

pytestmark = pytest.mark.fuse

PICTURES = ("Pictures/avatar.png", "Pictures/Holidays/beach.jpg", "Pictures/Holidays/mountains.jpg")


def test_pin_a_folder_downloads_everything_below_it(mount: Mount) -> None:
    assert {xattr(mount.path(p), "user.onemount.state") for p in PICTURES} == {"GHOST"}
    done = cli(mount, "pin", str(mount.path("Pictures")))
    assert done.returncode == 0, done.stderr
    pictures = mount.path("Pictures")
    assert done.stdout == f"pinned {pictures}: 3 files, 441.4 KiB, all on this machine\n"
    assert done.stderr.splitlines()[-1] == (
        "downloading pinned files: 3 of 3 (441.4 KiB of 441.4 KiB)"
    )
    for relative in PICTURES:
        assert xattr(mount.path(relative), "user.onemount.pinned") == "1"
        assert xattr(mount.path(relative), "user.onemount.state") == "HYDRATED"
    assert mount.path("Pictures/avatar.png").read_bytes() == mount.remote_bytes(PICTURES[0])

    done = cli(mount, "unpin", str(mount.path("Pictures")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"unpinned {mount.path('Pictures')} (its bytes stay")
    assert {xattr(mount.path(p), "user.onemount.pinned") for p in PICTURES} == {"0"}
    assert {xattr(mount.path(p), "user.onemount.state") for p in PICTURES} == {"HYDRATED"}


def test_pin_no_wait_returns_and_json_tells_the_counts(mount: Mount) -> None:
    clip = mount.path("Videos/clip.bin")
    done = cli(mount, "pin", "--no-wait", str(clip))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress: it did not wait
    assert xattr(clip, "user.onemount.pinned") == "1"
    done = cli(mount, "pin", "--json", str(clip))  # pinned already: waits for the bytes
    assert done.returncode == 0, done.stderr
    assert '"cached": 1' in done.stdout and '"files": 1' in done.stdout
    assert xattr(clip, "user.onemount.state") == "HYDRATED"


def test_pin_says_why_it_cannot_bring_the_files(mount: Mount) -> None:
    mount.server.graph.faults.add(
        FaultRule(path="/v1.0/me/drive/items/*/content", status=403, count=-1)
    )
    done = cli(mount, "pin", "--timeout", "60", str(mount.path("Music")))
    assert done.returncode == 1
    assert one_line(done.stderr).startswith(
        "onemount pin: /Music/Band - Song.mp3 could not be downloaded: "
    )
    assert xattr(mount.path("Music/Band - Song.mp3"), "user.onemount.pinned") == "1"


@pytest.mark.slow  # a remount with Graph unreachable, and its return
def test_pin_offline_keeps_the_pin_and_says_so(unstarted: Mount) -> None:
    mount, server = unstarted, unstarted.server
    mount.start()
    assert mount.unmount().returncode == 0
    server.stop()
    mount.start()
    done = cli(mount, "pin", str(mount.path("Music")))
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        "onemount pin: 1 file not here yet and the mount is OFFLINE:"
        " they stay pinned and download when it is back"
    )
    assert xattr(mount.path("Music/Band - Song.mp3"), "user.onemount.pinned") == "1"


def test_pin_refuses_what_is_not_on_a_mount(mount: Mount, tmp_path: Path) -> None:
    done = cli(mount, "pin", str(tmp_path))
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        f"onemount pin: {tmp_path}: not on a onemount mount (`onemount status` lists them)"
    )
    done = cli(mount, "unpin", str(mount.path("no such file")))
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        f"onemount unpin: {mount.path('no such file')}: No such file or directory"
    )
    assert cli(mount, "pin").returncode == 2
    done = cli(mount, "pin", "--help")
    assert done.returncode == 0 and "--no-wait" in done.stdout and "Exit status" in done.stdout
