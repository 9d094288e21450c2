"""The issue's by-hand sequence, exactly as a user types it, each command its own process.

``onemount fakegraph serve --seed sample --json`` in one shell; ``onemount mount OD
--graph-url URL --token-file F`` in another (foreground, default settings); ``ls -lR OD``; ``cat``
of a file, whose ``user.onemount.state`` goes from GHOST to HYDRATED; a new file written
through the mount, reaching the fake; ``onemount unmount OD``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fs.harness import REPO, onemount, wait_for_exit

pytestmark = pytest.mark.fuse


@pytest.fixture
def fake_process(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "onemount", "fakegraph", "serve", "--seed", "sample", "--json"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert process.stdout is not None
        endpoint: dict[str, str] = json.loads(process.stdout.readline())
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_sequence_in_the_issue(tmp_path: Path, fake_process: dict[str, str]) -> None:
    od, token_file = tmp_path / "od", tmp_path / "F"
    od.mkdir()
    token_file.write_text(fake_process["token"])
    token_file.chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONPATH": str(REPO),
    }
    command = ["mount", str(od), "--graph-url", fake_process["base_url"]]
    log = (tmp_path / "mount.log").open("w")
    mount = subprocess.Popen(
        [sys.executable, "-m", "onemount", *command, "--token-file", str(token_file)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert mount.stdout is not None
        assert mount.stdout.readline().startswith(f"mounted {od}")

        listing = subprocess.run(["ls", "-lR", str(od)], capture_output=True, text=True)
        assert listing.returncode == 0, listing.stderr
        for name in ("Documents", "Welcome.txt", "Résumé.txt", "still.txt", "clip.bin"):
            assert name in listing.stdout

        welcome = od / "Documents" / "Welcome.txt"
        assert os.getxattr(welcome, "user.onemount.state") == b"GHOST"
        shown = subprocess.run(["cat", str(welcome)], capture_output=True, check=True).stdout
        assert shown.startswith(b"Welcome")
        # The end of a file is served once its download is verified and kept: the state
        # read right after cat is HYDRATED, exactly as the issue's sequence shows it.
        assert os.getxattr(welcome, "user.onemount.state") == b"HYDRATED"

        (od / "written here.txt").write_text("a new file, written through the mount\n")

        unmounted = onemount("unmount", str(od), env=env)
        assert unmounted.returncode == 0, unmounted.stderr
        assert "every change has reached OneDrive" in unmounted.stdout
        assert mount.wait(timeout=60) == 0
        assert not os.path.ismount(od)
    finally:
        if mount.poll() is None:
            mount.terminate()
            wait_for_exit(mount.pid)
        log.close()

    headers = {"Authorization": f"Bearer {fake_process['token']}"}
    url = f"{fake_process['base_url']}/me/drive/root:/written here.txt:/content"
    answer = httpx.get(url, headers=headers, follow_redirects=True, timeout=30)
    assert answer.status_code == 200
    assert answer.text == "a new file, written through the mount\n"
