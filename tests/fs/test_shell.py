"""The shell's tools on a real mount, each held to what the drive holds afterwards.

``ls -lR``, ``cat``, ``cp -r`` in and out, ``mv``, ``rm -r``, ``dd``, ``touch``, ``truncate``,
``ln -s`` (refused, clearly), ``rsync -a`` of a tree in and out (and again, changing nothing),
and git: ``init``, ``commit`` and a clean ``status`` inside the mount.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fs.harness import Mount, xattr

pytestmark = pytest.mark.fuse


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root``: a file's bytes, None for a folder."""
    found: dict[str, bytes | None] = {}
    for folder, folders, files in os.walk(root):
        base = Path(folder)
        for name in folders:
            found[str((base / name).relative_to(root))] = None
        for name in files:
            found[str((base / name).relative_to(root))] = (base / name).read_bytes()
    return found


def make_tree(root: Path) -> None:
    """A small tree with the shapes copies get wrong: empty files and folders, depth, a
    file of several MiB, names with spaces and unicode."""
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "empty folder").mkdir()
    (root / "a" / "empty.txt").write_bytes(b"")
    (root / "a" / "b" / "notes ü.txt").write_text("nested\n")
    (root / "a" / "b" / "c" / "deep.bin").write_bytes(os.urandom(3 << 20))
    for index in range(20):
        (root / f"small {index}.txt").write_text(f"file {index}\n" * (index + 1))


def test_ls_lR_shows_the_whole_drive(mount: Mount) -> None:
    listing = run("ls", "-lR", mount.mountpoint).stdout
    assert "Welcome.txt" in listing and "still.txt" in listing
    shown = {
        str(Path(folder, name).relative_to(mount.mountpoint))
        for folder, folders, files in os.walk(mount.mountpoint)
        for name in folders + files
    }
    drive = mount.drive
    expected = set()
    pending = [("", drive.root_id)]
    while pending:
        prefix, folder_id = pending.pop()
        for item in drive.children(folder_id, None, 10_000):
            path = f"{prefix}{item.name}"
            expected.add(path)
            if item.is_folder:
                pending.append((f"{path}/", item.id))
    assert shown == expected
    clip = mount.path("Videos/clip.bin").stat()
    assert clip.st_size == 5 << 20
    assert clip.st_blocks * 512 >= clip.st_size  # du counts what the drive holds


def test_cat_hydrates_a_ghost(mount: Mount) -> None:
    path = mount.path("Projects/onemount/README.md")
    assert xattr(path, "user.onemount.state") == "GHOST"
    assert run("cat", path).stdout == mount.remote_bytes("Projects/onemount/README.md").decode()
    assert xattr(path, "user.onemount.state") == "HYDRATED"  # at once: cat read to the end
    assert run("du", "-sb", mount.path("Videos")).stdout.split()[0] == str(5 << 20)


def test_cp_r_in_and_out(mount: Mount, tmp_path: Path) -> None:
    source, back = tmp_path / "source", tmp_path / "back"
    make_tree(source)
    run("cp", "-r", source, mount.path("copied"))
    assert tree(mount.path("copied")) == tree(source)
    mount.sync()
    assert mount.remote_bytes("copied/a/b/c/deep.bin") == (source / "a/b/c/deep.bin").read_bytes()
    assert mount.remote_bytes("copied/a/empty.txt") == b""
    assert mount.item("copied/empty folder").is_folder
    run("cp", "-r", mount.path("copied"), back)
    assert tree(back) == tree(source)


def test_mv_and_rm_r(mount: Mount) -> None:
    run("mv", mount.path("Documents/Taxes 2025"), mount.path("Projects/Taxes"))
    run("mv", mount.path("Music/Band - Song.mp3"), mount.path("Music/renamed.mp3"))
    assert not mount.path("Documents/Taxes 2025").exists()
    assert (mount.path("Projects/Taxes/receipts.csv")).read_text().startswith("date,")
    run("rm", "-r", mount.path("Pictures"))
    assert not mount.path("Pictures").exists()
    mount.sync()
    assert mount.item("Projects/Taxes/receipts.csv").is_file
    assert mount.drive.child(mount.drive.root_id, "Pictures") is None
    assert mount.drive.child(mount.item("Music").id, "renamed.mp3") is not None


def test_dd_truncate_and_touch(mount: Mount) -> None:
    path = mount.path("dd.bin")
    run("dd", "if=/dev/urandom", f"of={path}", "bs=1M", "count=6", "status=none")
    assert path.stat().st_size == 6 << 20
    data = path.read_bytes()
    run("truncate", "-s", "1M", path)
    assert path.stat().st_size == 1 << 20
    run("truncate", "-s", "+1K", path)
    assert path.read_bytes() == data[: 1 << 20] + bytes(1024)
    run("touch", "-d", "2021-06-01 12:00:00 UTC", path)
    assert path.stat().st_mtime == 1622548800
    mount.sync()
    assert (
        hashlib.sha256(mount.remote_bytes("dd.bin")).digest()
        == hashlib.sha256(data[: 1 << 20] + bytes(1024)).digest()
    )
    run("touch", mount.path("touched"))
    assert mount.path("touched").stat().st_size == 0


def test_links_are_refused_clearly(mount: Mount) -> None:
    for command in (["ln", "-s", "Documents", "link"], ["ln", "Documents/Welcome.txt", "hard"]):
        done = subprocess.run(command, capture_output=True, text=True, cwd=mount.mountpoint)
        assert done.returncode != 0
        assert "Operation not permitted" in done.stderr
    assert not mount.path("link").exists() and not mount.path("hard").exists()
    assert mount.status()["pending"] == 0


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_rsync_a_in_and_out(mount: Mount, tmp_path: Path) -> None:
    source, back = tmp_path / "source", tmp_path / "back"
    make_tree(source)
    run("rsync", "-a", f"{source}/", mount.path("synced"))
    assert tree(mount.path("synced")) == tree(source)
    again = run("rsync", "-a", "--itemize-changes", f"{source}/", mount.path("synced"))
    assert again.stdout == ""  # sizes and times held: nothing to send a second time
    mount.sync()  # every upload, mkdir and time sent, and delta's echo of them taken in
    synced = run("rsync", "-a", "--itemize-changes", f"{source}/", mount.path("synced"))
    assert synced.stdout == ""  # the server holds the times too: its echo changed none
    run("rsync", "-a", f"{mount.path('synced')}/", back)
    assert not filecmp.dircmp(source, back).diff_files
    assert tree(back) == tree(source)
    mount.sync()
    assert mount.remote_bytes("synced/small 7.txt") == (source / "small 7.txt").read_bytes()


def test_git_inside_the_mount(mount: Mount) -> None:
    repo = mount.path("repo")
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(mount.root / "home"),
    }

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=repo, env=env, check=False
        )
        assert done.returncode == 0, f"git {args}: {done.stderr}"
        return done.stdout

    git("init", "-q", "-b", "main")
    (repo / "hello.txt").write_text("hello\n")
    (repo / "src").mkdir()
    (repo / "src" / "main.py").write_text("print('hi')\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    (repo / "hello.txt").write_text("hello again\n")
    git("commit", "-q", "-am", "second")
    assert git("status", "--porcelain") == ""
    assert git("log", "--format=%s") == "second\nfirst\n"
    assert git("fsck", "--no-progress") == ""
