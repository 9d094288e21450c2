"""POSIX details a program relies on without knowing it, on a real mount.

An unlinked file stays readable and writable through the descriptors open on it until the last
one closes; a rename over an open file leaves its reader with what it opened; ``O_APPEND``
writes land at the end whatever the offset; ``O_EXCL`` refuses an existing name; ``O_TRUNC``
empties; writes move mtime and ctime, a rename moves ctime; ``chmod`` is kept and ``chown`` to
anyone else refused; ``RENAME_NOREPLACE`` is honoured and ``RENAME_EXCHANGE`` refused.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from pathlib import Path

import pytest

from tests.fs.harness import Mount

pytestmark = pytest.mark.fuse

_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def renameat2(old: Path, new: Path, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(_AT_FDCWD, bytes(old), _AT_FDCWD, bytes(new), flags) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def test_an_unlinked_file_lives_while_open(mount: Mount) -> None:
    path = mount.path("open then unlinked.txt")
    path.write_bytes(b"still here\n")
    fd = os.open(path, os.O_RDWR)
    try:
        path.unlink()
        assert not path.exists()
        assert os.pread(fd, 100, 0) == b"still here\n"
        os.pwrite(fd, b"STILL", 0)
        assert os.pread(fd, 100, 0) == b"STILL here\n"
        assert os.fstat(fd).st_nlink == 0
        path.write_bytes(b"a new file of the same name\n")  # the name is free at once
    finally:
        os.close(fd)
    assert path.read_bytes() == b"a new file of the same name\n"
    mount.sync()
    assert mount.remote_bytes("open then unlinked.txt") == b"a new file of the same name\n"


def test_a_remote_file_unlinked_while_open(mount: Mount) -> None:
    path = mount.path("Documents/Shopping list.md")
    with path.open("rb") as reader:
        path.unlink()
        assert reader.read().startswith(b"# Shopping")
    mount.sync()
    assert mount.drive.child(mount.item("Documents").id, "Shopping list.md") is None


def test_rename_over_an_open_file(mount: Mount) -> None:
    target, other = mount.path("target.txt"), mount.path("other.txt")
    target.write_bytes(b"old bytes\n")
    other.write_bytes(b"new bytes\n")
    with target.open("rb") as reader:
        other.rename(target)
        assert reader.read() == b"old bytes\n"
    assert target.read_bytes() == b"new bytes\n"
    assert not other.exists()


def test_o_append_o_excl_o_trunc(mount: Mount) -> None:
    path = mount.path("flags.txt")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"one\n")
    os.close(fd)
    with pytest.raises(FileExistsError):
        os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b"two\n")
    os.close(fd)
    other = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(other, b"three\n")
    os.close(other)
    assert path.read_bytes() == b"one\ntwo\nthree\n"
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    assert os.fstat(fd).st_size == 0
    os.write(fd, b"fresh\n")
    os.close(fd)
    assert path.read_bytes() == b"fresh\n"
    # O_TRUNC of a file only the server has: no download, just the new bytes.
    remote = mount.path("Pictures/avatar.png")
    with remote.open("wb") as file:
        file.write(b"replaced")
    assert remote.read_bytes() == b"replaced"
    mount.sync()
    assert mount.remote_bytes("flags.txt") == b"fresh\n"
    assert mount.remote_bytes("Pictures/avatar.png") == b"replaced"


def test_times_move_with_writes_and_renames(mount: Mount) -> None:
    path = mount.path("times.txt")
    path.write_bytes(b"x")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    before = path.stat()
    assert before.st_mtime == 1_000_000_000
    with path.open("ab") as file:
        file.write(b"y")
    written = path.stat()
    assert written.st_mtime > before.st_mtime
    assert written.st_ctime_ns >= written.st_mtime_ns - 1_000_000
    os.utime(path, (1_000_000_000, 1_000_000_000))
    renamed = mount.path("times renamed.txt")
    path.rename(renamed)
    after = renamed.stat()
    assert after.st_mtime == 1_000_000_000  # a rename keeps the modification time
    assert after.st_ctime_ns > before.st_ctime_ns  # ...and changes the inode's
    assert after.st_ino == before.st_ino


def test_chmod_is_kept_and_chown_to_others_refused(mount: Mount) -> None:
    path = mount.path("script.sh")
    path.write_text("#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o755)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    os.chown(path, os.getuid(), os.getgid())  # to its owner: a no-op, accepted
    with pytest.raises(PermissionError):
        os.chown(path, os.getuid() + 1, -1)
    folder = mount.path("Documents")
    assert stat.S_ISDIR(folder.stat().st_mode) and folder.stat().st_nlink == 1


def test_rename_flags(mount: Mount) -> None:
    first, second = mount.path("first.txt"), mount.path("second.txt")
    first.write_text("1")
    second.write_text("2")
    with pytest.raises(FileExistsError):
        renameat2(first, second, _RENAME_NOREPLACE)
    with pytest.raises(OSError) as refused:
        renameat2(first, second, _RENAME_EXCHANGE)
    assert refused.value.errno == errno.EINVAL
    renameat2(first, mount.path("third.txt"), _RENAME_NOREPLACE)
    assert mount.path("third.txt").read_text() == "1" and second.read_text() == "2"


def test_rename_changing_only_case(mount: Mount) -> None:
    mount.path("notes.txt").write_text("n")
    mount.path("notes.txt").rename(mount.path("Notes.txt"))
    assert os.listdir(mount.mountpoint).count("Notes.txt") == 1
    assert "notes.txt" not in os.listdir(mount.mountpoint)
    mount.sync()
    assert mount.drive.child(mount.drive.root_id, "Notes.txt") is not None


def test_folders(mount: Mount) -> None:
    folder = mount.path("new folder")
    folder.mkdir()
    (folder / "inside").write_text("i")
    with pytest.raises(OSError) as full:
        folder.rmdir()
    assert full.value.errno == errno.ENOTEMPTY
    with pytest.raises(OSError) as into_itself:
        folder.rename(folder / "sub")
    assert into_itself.value.errno == errno.EINVAL
    (folder / "inside").unlink()
    folder.rmdir()
    assert not folder.exists()
