"""The slow tier: a real mount, held against the same operations on a local directory.

The system machine (tests/model/system_machine.py) calls the operations layer directly; this
tier goes through the kernel: ``onemount mount`` in its own process (tests/fs/harness.py), the
fake Graph behind it, and plain system calls on paths. Every operation is made on the mount
and on a directory of the local disk; both must answer the same (the value, or the errno) and
hold the same tree afterwards, byte for byte, and an inode seen on the mount must stay the
inode of its item across renames. A crash (SIGKILL and a new mount) must change nothing the
user can see. After a sync the drive itself holds the same tree.

Names differ in more than case: the mount compares names as OneDrive does, ignoring case, and
a local directory does not (the system machine covers case).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from models.drive import Tree
from tests.engine.harness import Served
from tests.fs.conftest import fuse_available
from tests.fs.harness import Mount
from tests.model.tiers import TIER, Figures, counted, untimed

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.fuse, *untimed()]

NAMES = st.sampled_from(["a", "b.txt", "notes", "x.md"])
CONTENT = st.binary(max_size=64)
INDEX = st.integers(0, 63)
#: Errnos that mean the same refusal on both sides (Linux may say either for a non-empty
#: folder replaced by a rename).
SAME = {errno.EEXIST: errno.ENOTEMPTY}


def tree(root: Path) -> Tree:
    found: Tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found["/" + str(Path(folder, name).relative_to(root))] = None
        for name in files:
            path = Path(folder, name)
            found["/" + str(path.relative_to(root))] = path.read_bytes()
    return found


def answer(call: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", call(*args)
    except OSError as exc:
        return "errno", SAME.get(exc.errno or 0, exc.errno)


class MountAgainstDisk(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="onemount-mount-"))
        self.server = Served(self.tmp / "fake")
        self.mount = Mount(self.tmp / "m", self.server)
        self.disk = self.tmp / "disk"
        self.disk.mkdir()
        self.inodes: dict[str, int] = {}

    @initialize()
    def start(self) -> None:
        self.mount.start()

    def teardown(self) -> None:
        try:
            self.mount.close()
            self.server.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- choosing ------------------------------------------------------------------------------

    def _paths(self, folders: bool | None = None) -> list[str]:
        found = tree(self.disk)
        return sorted(p for p, v in found.items() if folders is None or (v is None) == folders)

    def _folder(self, index: int) -> str:
        folders = ["", *self._paths(folders=True)]
        return folders[index % len(folders)]

    def _both(self, call: Any, relative: str, *more: Any) -> Any:
        """``call`` on the mount's path and the disk's; both must answer the same."""
        here = answer(call, self.mount.mountpoint / relative.lstrip("/"), *more)
        there = answer(call, self.disk / relative.lstrip("/"), *more)
        assert here == there, f"{call.__name__}({relative!r}): mount {here}, disk {there}"
        return here

    # -- operations ----------------------------------------------------------------------------

    @rule(folder=INDEX, name=NAMES, content=CONTENT)
    def create(self, folder: int, name: str, content: bytes) -> None:
        self._both(_create, f"{self._folder(folder)}/{name}", content)
        self._check()

    @rule(folder=INDEX, name=NAMES)
    def mkdir(self, folder: int, name: str) -> None:
        self._both(os.mkdir, f"{self._folder(folder)}/{name}")
        self._check()

    @rule(file=INDEX, content=CONTENT)
    def overwrite(self, file: int, content: bytes) -> None:
        files = self._paths(folders=False)
        if files:
            self._both(_overwrite, files[file % len(files)], content)
        self._check()

    @rule(file=INDEX, offset=st.integers(0, 80), data=st.binary(min_size=1, max_size=16))
    def write_into(self, file: int, offset: int, data: bytes) -> None:
        files = self._paths(folders=False)
        if files:
            self._both(_write_at, files[file % len(files)], offset, data)
        self._check()

    @rule(file=INDEX, size=st.integers(0, 80))
    def truncate(self, file: int, size: int) -> None:
        files = self._paths(folders=False)
        if files:
            self._both(os.truncate, files[file % len(files)], size)
        self._check()

    @rule(item=INDEX, folder=INDEX, name=NAMES)
    def rename(self, item: int, folder: int, name: str) -> None:
        items = self._paths()
        if not items:
            return self._check()
        source = items[item % len(items)]
        target = f"{self._folder(folder)}/{name}"
        mount = self.mount.mountpoint
        # A file the server does not have yet renamed over one it has takes the replaced
        # file's place, inode and server item (LocalOps.rename, an editor's save); the upload
        # may come first in a real mount, so such a rename may also move the inode as a disk.
        replaced = self.inodes.get(target)
        takeover = (
            replaced is not None
            and target != source
            and (self.disk / source[1:]).is_file()
            and (self.disk / target[1:]).is_file()
            and _server_id(mount / source[1:]) is None
        )
        here = answer(os.rename, mount / source[1:], mount / target[1:])
        there = answer(os.rename, self.disk / source[1:], self.disk / target[1:])
        assert here == there, f"rename {source} -> {target}: mount {here}, disk {there}"
        if here[0] == "ok" and source in self.inodes:
            moved = {
                p: i for p, i in self.inodes.items() if p == source or p.startswith(source + "/")
            }
            for path in moved:
                del self.inodes[path]
            self.inodes.update({target + p[len(source) :]: i for p, i in moved.items()})
            if takeover and os.stat(mount / target[1:]).st_ino == replaced:
                self.inodes[target] = replaced
        self._check()

    @rule(item=INDEX, folder=st.booleans())
    def remove(self, item: int, folder: bool) -> None:
        items = self._paths()
        if items:
            self._both(os.rmdir if folder else os.unlink, items[item % len(items)])
        self._check()

    @rule(file=INDEX, content=CONTENT)
    def editor_save(self, file: int, content: bytes) -> None:
        """gedit: a temporary file written and renamed over the original.

        The original keeps its inode (and its server item) when the server has it: the mount
        knew its id before the save (LocalOps.rename). One not uploaded yet is replaced as on
        a disk, by the temporary file; which of the two a save meets depends on the upload's
        timing in a real mount, so without an id before the save either inode is right.
        """
        files = self._paths(folders=False)
        if not files:
            return self._check()
        path = files[file % len(files)]
        mount = self.mount.mountpoint
        uploaded = _server_id(mount / path[1:]) is not None
        temporary = f"{path.rpartition('/')[0]}/.goutputstream-Q1W2E3"
        self._both(_create, temporary, content)
        fresh = os.stat(mount / temporary[1:]).st_ino
        for root in (mount, self.disk):
            os.rename(root / temporary[1:], root / path[1:])
        now = os.stat(mount / path[1:]).st_ino
        if not uploaded and now == fresh:
            self.inodes[path] = fresh
        self._check()

    @rule()
    def crash(self) -> None:
        """SIGKILL the daemon and mount again: nothing the user sees may change."""
        self.mount.kill()
        self.mount.start()
        self._check()

    @rule()
    def sync(self) -> None:
        """After a sync the drive holds what the disk does."""
        self.mount.sync()
        self._check()
        assert _drive_tree(self.mount) == tree(self.disk), "the drive is not the disk"

    # -- after every step ----------------------------------------------------------------------

    def _check(self) -> None:
        assert tree(self.mount.mountpoint) == tree(self.disk)
        for path in self._paths():
            ino = os.stat(self.mount.mountpoint / path[1:]).st_ino
            assert self.inodes.setdefault(path, ino) == ino, f"{path}: inode changed"
        gone = set(self.inodes) - set(self._paths())
        for path in gone:
            del self.inodes[path]


def _server_id(path: Path) -> bytes | None:
    """The server's id the mount knows for ``path`` (``user.onemount.id``), if any."""
    try:
        return os.getxattr(path, "user.onemount.id")
    except OSError as exc:
        if exc.errno != errno.ENODATA:
            raise
        return None


def _create(path: Path, content: bytes) -> None:
    with open(path, "xb") as f:
        f.write(content)


def _overwrite(path: Path, content: bytes) -> None:
    with open(path, "wb") as f:
        f.write(content)


def _write_at(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _drive_tree(mount: Mount) -> Tree:
    drive = mount.drive
    found: Tree = {}
    pending = [(drive.root_id, "")]
    while pending:
        parent, prefix = pending.pop()
        for item in drive.children(parent, None, 100_000):
            path = f"{prefix}/{item.name}"
            found[path] = None if item.is_folder else drive.read_all(item.id)
            if item.is_folder:
                pending.append((item.id, path))
    return found


def test_a_real_mount_matches_a_local_directory() -> None:
    reason = fuse_available()
    if reason is not None:
        pytest.skip(f"fuse test: {reason}")
    long = TIER in ("long", "slow")
    figures = Figures()
    started = time.monotonic()
    try:
        run_state_machine_as_test(
            hypothesis.seed(20250103)(counted(MountAgainstDisk, figures)),
            settings=settings(
                max_examples=20 if long else 2,
                stateful_step_count=30 if long else 12,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        print(f"\nreal mount ({TIER}): {figures}, {time.monotonic() - started:.1f} s")
