"""The status attributes (``user.onemount.*``) as ``getfattr``/``setfattr`` see them."""

from __future__ import annotations

import errno
import os

import pytest

from tests.fs.harness import Mount, xattr

pytestmark = pytest.mark.fuse


def test_the_status_of_a_file_from_the_server(mount: Mount) -> None:
    path = mount.path("Pictures/avatar.png")
    assert set(os.listxattr(path)) == {
        "user.onemount.state",
        "user.onemount.pinned",
        "user.onemount.id",
    }
    assert xattr(path, "user.onemount.state") == "GHOST"
    assert xattr(path, "user.onemount.pinned") == "0"
    assert xattr(path, "user.onemount.id") == mount.item("Pictures/avatar.png").id
    with pytest.raises(OSError) as absent:
        os.getxattr(path, "user.onemount.error")
    assert absent.value.errno == errno.ENODATA


def test_a_new_file_has_an_id_once_uploaded(mount: Mount) -> None:
    path = mount.path("new.txt")
    path.write_text("n")
    assert xattr(path, "user.onemount.state") == "DIRTY_LOCAL"
    assert "user.onemount.id" not in os.listxattr(path)
    mount.sync()
    assert xattr(path, "user.onemount.state") == "HYDRATED"
    assert xattr(path, "user.onemount.id") == mount.item("new.txt").id


def test_pinning_through_the_attribute(mount: Mount) -> None:
    folder = mount.path("Pictures")
    os.setxattr(folder, "user.onemount.pinned", b"1")
    assert xattr(folder, "user.onemount.pinned") == "1"
    assert xattr(folder / "Holidays" / "beach.jpg", "user.onemount.pinned") == "1"
    os.removexattr(folder, "user.onemount.pinned")
    assert xattr(folder, "user.onemount.pinned") == "0"
    os.setxattr(folder, "user.onemount.pinned", b"1\n")  # as `echo 1 | ...` gives it
    assert xattr(folder, "user.onemount.pinned") == "1"
    os.setxattr(folder, "user.onemount.pinned", b"0")
    assert xattr(folder, "user.onemount.pinned") == "0"


def test_refused_writes_and_other_attributes(mount: Mount) -> None:
    music = mount.path("Music")
    for name, value, expected in (
        ("user.onemount.pinned", b"yes", errno.EINVAL),
        ("user.onemount.state", b"HYDRATED", errno.EPERM),
        ("user.onemount.id", b"x", errno.EPERM),
        ("user.other", b"x", errno.ENOTSUP),
    ):
        with pytest.raises(OSError) as refused:
            os.setxattr(music, name, value)
        assert refused.value.errno == expected, name
    with pytest.raises(OSError) as absent:
        os.getxattr(music, "user.comment")
    assert absent.value.errno == errno.ENODATA
    with pytest.raises(OSError) as absent:
        os.removexattr(music, "user.comment")
    assert absent.value.errno == errno.ENODATA
    with pytest.raises(OSError) as protected:
        os.removexattr(music, "user.onemount.state")
    assert protected.value.errno == errno.EPERM
