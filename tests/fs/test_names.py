"""OneDrive's naming rules, enforced at the system call: a name the service would refuse is
EINVAL (too long: ENAMETOOLONG), a name differing from a sibling's only in case is EEXIST, and
nothing is queued for the server, so no upload fails later where nobody watches.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from tests.fs.harness import Mount

pytestmark = pytest.mark.fuse

FORBIDDEN = ["a:b.txt", 'quote".txt', "star*", "what?", "pipe|", "back\\slash", "lt<gt>",
             "CON", "con.txt", "desktop.ini", " leading space", "trailing space ", "trailing.",
             "~$lock.docx", "tab\tinside", "_vti_x"]  # fmt: skip


def _errno(action: Callable[[], object]) -> int:
    with pytest.raises(OSError) as refused:
        action()
    assert refused.value.errno is not None
    return refused.value.errno


def test_forbidden_names_are_einval_and_queue_nothing(mount: Mount) -> None:
    welcome = mount.path("Documents/Welcome.txt")
    before = len(mount.server.graph.faults.requests())
    for name in FORBIDDEN:
        target = mount.path(name)
        assert _errno(partial(target.write_text, "x")) == errno.EINVAL, name
        assert _errno(target.mkdir) == errno.EINVAL, name
        assert _errno(partial(welcome.rename, target)) == errno.EINVAL, name
        assert welcome.exists()
        assert name not in os.listdir(mount.mountpoint)
    assert mount.status()["pending"] == 0
    mount.sync()
    sent = mount.server.graph.faults.requests()[before:]
    assert [r for r in sent if r.method != "GET" and "subscriptions" not in r.path] == []


def test_too_long_is_enametoolong(mount: Mount) -> None:
    # 130 two-byte characters: 260 bytes, past Linux's 255.
    assert _errno(lambda: mount.path("é" * 130).write_text("x")) == errno.ENAMETOOLONG
    # 256 one-byte characters: past OneDrive's 255 too (the kernel passes it to the mount).
    assert _errno(lambda: mount.path("n" * 256).write_text("x")) == errno.ENAMETOOLONG
    assert _errno(lambda: mount.path("n" * 256).stat()) == errno.ENAMETOOLONG
    mount.path("n" * 255).write_text("the longest name")
    assert mount.path("n" * 255).read_text() == "the longest name"


def test_a_name_differing_only_in_case_is_eexist(mount: Mount) -> None:
    assert mount.path("Documents").is_dir()
    assert not mount.path("documents").exists()  # looked up as written
    assert _errno(lambda: mount.path("documents").mkdir()) == errno.EEXIST
    assert _errno(lambda: mount.path("DOCUMENTS").write_text("x")) == errno.EEXIST
    mount.path("Readme.md").write_text("r")
    song = mount.path("Music/Band - Song.mp3")
    assert _errno(lambda: song.rename(mount.path("README.md"))) == errno.EEXIST
    assert song.exists() and mount.path("Readme.md").read_text() == "r"
    assert sorted(n for n in os.listdir(mount.mountpoint) if n.lower() == "readme.md") == [
        "Readme.md"
    ]
    mount.path("Readme.md").rename(mount.path("README.md"))  # its own name, in another case
    mount.sync()
    assert mount.drive.child(mount.drive.root_id, "README.md") is not None
    assert mount.status()["pending"] == 0


def test_undecodable_bytes_are_einval(mount: Mount) -> None:
    name = b"latin-1 \xe9t\xe9"
    path = os.path.join(os.fsencode(mount.mountpoint), name)
    assert _errno(lambda: Path(os.fsdecode(path)).write_text("x")) == errno.EINVAL
    assert mount.status()["pending"] == 0


def test_names_onedrive_takes(mount: Mount) -> None:
    names = ["#hash%percent.txt", "Résumé NFC.txt", "emoji 😀.txt", "&#38; entity.txt",
             "dots.in.the.middle", ".hidden", "a b  c"]  # fmt: skip
    for name in names:
        mount.path(name).write_text(name)
    mount.sync()
    for name in names:
        assert mount.remote_bytes(name) == name.encode()
