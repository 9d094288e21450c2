"""``onemount fakegraph serve`` as a user runs it: a real process, curl-like requests, SIGTERM.

The drive must be Graph-shaped on the wire, refuse requests without its token, and still be
there (same ids, same bytes) after the server is stopped and started again on the same folder.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


@contextmanager
def serving(data: Path, *extra: str) -> Iterator[dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "onemount",
        "fakegraph",
        "serve",
        "--json",
        "--data",
        str(data),
    ]
    process = subprocess.Popen(
        [*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else "no output"
        yield json.loads(line)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err


def test_serve_answers_graph_shaped_json_and_keeps_the_drive(tmp_path: Path) -> None:
    data = tmp_path / "drive"
    with serving(data, "--seed", "sample") as endpoint:
        base = endpoint["base_url"]
        auth = {"Authorization": f"Bearer {endpoint['token']}"}
        assert httpx.get(f"{base}/me/drive/root").status_code == 401
        root = httpx.get(f"{base}/me/drive/root", headers=auth).json()
        assert root["root"] == {} and "id" not in root["parentReference"]
        assert root["folder"]["childCount"] > 0
        welcome = httpx.get(f"{base}/me/drive/root:/documents/WELCOME.txt:", headers=auth).json()
        assert welcome["name"] == "Welcome.txt" and welcome["file"]["hashes"]["quickXorHash"]
        body = httpx.get(welcome["@microsoft.graph.downloadUrl"]).content  # no token needed
        assert body.startswith(b"Welcome to your onemount sample drive")
        assert (data / "drive.db").exists()

    with serving(data, "--seed", "sample") as endpoint:  # the seed does not reseed a drive
        auth = {"Authorization": f"Bearer {endpoint['token']}"}
        again = httpx.get(
            f"{endpoint['base_url']}/me/drive/items/{welcome['id']}", headers=auth
        ).json()
        assert again["eTag"] == welcome["eTag"] and again["size"] == welcome["size"]
        listing = httpx.get(f"{endpoint['base_url']}/me/drive/root/children", headers=auth).json()
        assert sorted(i["name"] for i in listing["value"]) == [
            "Documents", "Music", "Pictures", "Projects", "Shared with me", "Videos",
        ]  # fmt: skip


def test_a_drive_folder_keeps_its_mode(tmp_path: Path) -> None:
    data = tmp_path / "drive"
    with serving(data, "--mode", "business") as endpoint:
        assert endpoint["mode"] == "business" and endpoint["drive_id"].startswith("b!")
    serve = [sys.executable, "-m", "onemount", "fakegraph", "serve", "--data", str(data)]
    result = subprocess.run(
        [*serve, "--mode", "personal"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "holds a business drive" in result.stderr
