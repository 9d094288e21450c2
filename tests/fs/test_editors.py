"""How editors save, on a real mount: each pattern leaves the new bytes under the file's name,
on the server too, with no temporary or backup file left behind where the editor removes it.

* GIO (gedit, Nautilus), VS Code, LibreOffice, ``sed -i``, Python's atomic-write idiom: write
  a temporary file beside the target, fsync it, rename it over the target. The server's item
  keeps its id (its history and sharing survive the save), and the name answers at once with
  the new bytes, through the path and through the entry the kernel moved.
* vim: a backup (``file~``) made and removed around an in-place or renaming write.
* Emacs: rename the original to ``file~``, write a new file, keep the backup.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.fs.harness import Mount, xattr

pytestmark = pytest.mark.fuse

DOC = "Documents/Shopping list.md"
DOCUMENTS = sorted(["Welcome.txt", "Shopping list.md", "Taxes 2025", "Résumé.txt", "empty.txt"])


def _save_through_temporary(target: Path, data: bytes, temporary_name: str) -> None:
    temporary = target.with_name(temporary_name)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, target)


def test_saves_through_a_temporary_keep_the_server_item(mount: Mount) -> None:
    """gedit/GIO, VS Code-style and LibreOffice-style temporaries, one save after another."""
    target = mount.path(DOC)
    original_id = mount.item(DOC).id
    assert target.read_bytes().startswith(b"# Shopping")
    lines = b"# Shopping\n\n"
    for temporary in (".goutputstream-XJ2K1Z", ".Shopping list.md.tmp", "lu12.tmp"):
        lines += f"- {temporary}\n".encode()
        _save_through_temporary(target, lines, temporary)
        assert target.read_bytes() == lines  # at once, through the entry the kernel moved
        assert target.stat().st_size == len(lines)
        assert sorted(os.listdir(target.parent)) == DOCUMENTS
        mount.sync()
        assert mount.item(DOC).id == original_id
        assert mount.remote_bytes(DOC) == lines
        assert xattr(target, "user.onemount.id") == original_id
    # Saved twice in a row, with no sync between: the new name is answered again.
    _save_through_temporary(target, lines + b"- one\n", ".goutputstream-A")
    _save_through_temporary(target, lines + b"- two\n", ".goutputstream-B")
    assert target.read_bytes() == lines + b"- two\n"
    mount.sync()
    assert mount.item(DOC).id == original_id
    assert mount.remote_bytes(DOC) == lines + b"- two\n"


def test_python_atomic_write(mount: Mount) -> None:
    target = mount.path("Documents/Welcome.txt")
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as file:
        file.write(b"atomically\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(file.name, target)
    assert target.read_bytes() == b"atomically\n"
    mount.sync()
    assert mount.remote_bytes("Documents/Welcome.txt") == b"atomically\n"


def test_sed_in_place(mount: Mount) -> None:
    target = mount.path(DOC)
    subprocess.run(["sed", "-i", "s/coffee/cocoa/", str(target)], check=True)
    assert b"cocoa" in target.read_bytes() and b"coffee" not in target.read_bytes()
    assert sorted(os.listdir(target.parent)) == DOCUMENTS
    mount.sync()
    assert b"cocoa" in mount.remote_bytes(DOC)


def test_vim(mount: Mount) -> None:
    """vim writing in place (backupcopy=yes) and by renaming (backupcopy=no), each with the
    backup it makes for the write and removes after."""
    target = mount.path(DOC)
    for backupcopy, line in (("yes", "- rice"), ("no", "- beans")):
        done = subprocess.run(
            ["vim", "-Nu", "NONE", "-i", "NONE", "-Es",
             "-c", f"set backupcopy={backupcopy} writebackup nobackup", "-c", f"normal Go{line}",
             "-c", "wq", str(target)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(mount.root)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert target.read_text().endswith(f"{line}\n")
        assert sorted(os.listdir(target.parent)) == DOCUMENTS
        mount.sync()
        assert mount.remote_bytes(DOC).endswith(f"{line}\n".encode())
        assert mount.drive.child(mount.item("Documents").id, "Shopping list.md~") is None


def test_emacs_rename_to_backup(mount: Mount) -> None:
    target = mount.path(DOC)
    before = target.read_bytes()
    backup = target.with_name("Shopping list.md~")
    target.rename(backup)
    target.write_bytes(before + b"- olives\n")
    assert backup.read_bytes() == before
    mount.sync()
    assert mount.remote_bytes(DOC) == before + b"- olives\n"
    assert mount.remote_bytes("Documents/Shopping list.md~") == before


def test_lock_files_come_and_go(mount: Mount) -> None:
    lock = mount.path("Documents/.~lock.Shopping list.md#")
    lock.write_text("user,host,1234;")
    assert lock.read_text() == "user,host,1234;"
    lock.unlink()
    mount.sync()
    assert mount.drive.child(mount.item("Documents").id, lock.name) is None
