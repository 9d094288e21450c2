"""``onemount conflicts list`` and ``resolve``, on a conflict made the way users make them.

A mount settles a conflict by itself (keep both) once no program writes the file; a file held
open for writing keeps its conflict open, which is when these commands matter.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.cli.conftest import cli, one_line
from tests.fs.harness import Mount, hydrated, xattr

pytestmark = pytest.mark.fuse

NOTE = "Documents/Shopping list.md"


@contextmanager
def conflicted(mount: Mount) -> Iterator[int]:
    """``NOTE`` changed here (and held open for writing) and on another device: CONFLICT."""
    path = mount.path(NOTE)
    assert hydrated(path) == "HYDRATED"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"- ours: tea\n")
        os.fsync(fd)
        item = mount.item(NOTE)
        drive = mount.drive
        drive.replace_content(item.id, drive.write_blob(b"# theirs\n"), if_match=None)
        mount.sync()
        assert xattr(path, "user.onemount.state") == "CONFLICT"
        yield fd
    finally:
        os.close(fd)


def test_list_shows_both_versions_and_resolve_keeps_ours(mount: Mount) -> None:
    assert cli(mount, "conflicts", "list").stdout == "no conflicts\n"
    ours = len(mount.path(NOTE).read_bytes()) + len(b"- ours: tea\n")
    with conflicted(mount):
        done = cli(mount, "conflicts", "list", str(mount.mountpoint))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith(
            f"{mount.mountpoint}/{NOTE}: ours is {ours} B, the server's is 9 B (since "
        )
        assert lines[1] == (
            "settle one with: onemount conflicts resolve PATH --keep local|remote|both"
        )
        listed = json.loads(cli(mount, "conflicts", "list", "--json", str(mount.mountpoint)).stdout)
        assert [(c["path"], c["local_size"], c["remote_size"]) for c in listed] == [
            (f"/{NOTE}", ours, 9)
        ]

        done = cli(mount, "conflicts", "resolve", str(mount.path(NOTE)), "--keep", "both")
        assert done.returncode == 1
        assert one_line(done.stderr) == (
            f"onemount conflicts resolve: {mount.path(NOTE)}: it is open for writing; close it"
            " first"
        )

        done = cli(mount, "conflicts", "resolve", str(mount.path(NOTE)), "--keep", "local")
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            f"{mount.path(NOTE)}: kept local: this machine's version replaces the server's\n"
        )
    mount.sync()
    assert mount.remote_bytes(NOTE).endswith(b"- ours: tea\n")
    assert cli(mount, "conflicts", "list", str(mount.mountpoint)).stdout == "no conflicts\n"


def test_a_conflict_nobody_resolves_keeps_both_once_closed(mount: Mount) -> None:
    with conflicted(mount):
        pass
    mount.sync()
    copies = [n for n in os.listdir(mount.path("Documents")) if "(conflict copy" in n]
    assert len(copies) == 1
    assert mount.path(f"Documents/{copies[0]}").read_bytes().endswith(b"- ours: tea\n")
    assert mount.path(NOTE).read_bytes() == b"# theirs\n"
    done = cli(mount, "conflicts", "resolve", str(mount.path(NOTE)), "--keep", "remote")
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        f"onemount conflicts resolve: {mount.path(NOTE)}: not in conflict (it is HYDRATED)"
    )


def test_resolve_usage(mount: Mount) -> None:
    assert cli(mount, "conflicts", "resolve", str(mount.path(NOTE))).returncode == 2
    done = cli(mount, "conflicts", "resolve", str(mount.path(NOTE)), "--keep", "mine")
    assert done.returncode == 2 and "invalid choice: 'mine'" in done.stderr
    assert cli(mount, "conflicts").returncode == 2
    done = cli(mount, "conflicts", "resolve", "--help")
    assert done.returncode == 0 and "--keep {local,remote,both}" in done.stdout
