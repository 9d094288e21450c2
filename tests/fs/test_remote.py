"""Changes made on another device, seen through a mount whose kernel caches are long.

The mount lets the kernel keep entries, attributes and pages for minutes; what makes a remote
change visible at once is the engine's invalidation sink. Each test first makes the kernel
cache the old state (a listing, a stat, a read, a miss), changes the drive as another device
would, waits for the mount's next delta cycle (the ``sync`` command) and looks again.
"""

from __future__ import annotations

import errno
import os

import pytest

from tests.fs.harness import Mount

pytestmark = pytest.mark.fuse


def test_new_content_is_read_after_a_remote_change(mount: Mount) -> None:
    path = mount.path("Documents/Welcome.txt")
    old = path.read_bytes()
    assert path.read_bytes() == old  # now in the page cache, kept across opens
    folder = mount.item("Documents")
    mount.drive.put_bytes(folder.id, "Welcome.txt", b"changed on another device\n")
    mount.sync()
    assert path.stat().st_size == len(b"changed on another device\n")
    assert path.read_bytes() == b"changed on another device\n"


def test_an_item_arriving_where_the_kernel_cached_a_miss(mount: Mount) -> None:
    path = mount.path("Documents/arrived.txt")
    assert not path.exists()  # a negative entry, trusted by the kernel for minutes
    names = os.listdir(mount.path("Documents"))
    mount.drive.put_bytes(mount.item("Documents").id, "arrived.txt", b"hello\n")
    mount.sync()
    assert path.read_bytes() == b"hello\n"
    assert sorted(os.listdir(mount.path("Documents"))) == sorted([*names, "arrived.txt"])


def test_remote_deletes_and_renames(mount: Mount) -> None:
    gone, moved = mount.path("Music/Band - Song.mp3"), mount.path("Pictures/avatar.png")
    assert gone.stat().st_size == 900_000 and moved.exists()
    mount.drive.delete(mount.item("Music/Band - Song.mp3").id)
    mount.drive.update(mount.item("Pictures/avatar.png").id, name="portrait.png")
    mount.sync()
    with pytest.raises(OSError) as missing:
        gone.stat()
    assert missing.value.errno == errno.ENOENT
    assert not moved.exists()
    assert mount.path("Pictures/portrait.png").stat().st_size == 32_000
