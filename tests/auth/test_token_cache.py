"""The token cache file: private from creation, whole after a crash, rewritten only on change."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from onemount.auth.cache import FileTokenStore, open_token_store
from onemount.auth.config import AuthConfig, load_config

WRITER = """
import json, sys
from pathlib import Path
from onemount.auth.cache import FileTokenStore
store = FileTokenStore(Path(sys.argv[1]))
i = 0
while True:
    i += 1
    store.cache.deserialize(json.dumps({"AppMetadata": {"n": {"i": i, "pad": "x" * 200_000}}}))
    store.cache.has_state_changed = True
    store.save()
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def changed_store(path: Path) -> FileTokenStore:
    store = FileTokenStore(path)
    store.cache.deserialize(json.dumps({"AppMetadata": {"n": {"v": 1}}}))
    store.cache.has_state_changed = True
    return store


def test_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "onemount" / "cache.json"
    old = os.umask(0)
    try:
        changed_store(path).save()
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_existing_wide_directory_is_narrowed(tmp_path: Path) -> None:
    directory = tmp_path / "onemount"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    changed_store(directory / "cache.json").save()
    assert mode(directory) == 0o700
    assert [p.name for p in directory.iterdir()] == ["cache.json"]  # no temporary left behind


def test_unchanged_cache_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    FileTokenStore(path).save()
    assert not path.exists()


def test_cache_survives_sigkill_mid_write(tmp_path: Path) -> None:
    """Writers killed at random moments leave a complete cache, old or new, never torn."""
    path = tmp_path / "onemount" / "cache.json"
    for _ in range(6):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        try:
            while not path.exists():
                assert writer.poll() is None, "writer died before writing"
                time.sleep(0.01)
            time.sleep(random.uniform(0.02, 0.2))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        data = json.loads(path.read_text())
        assert len(data["AppMetadata"]["n"]["pad"]) == 200_000
        assert mode(path) == 0o600
        assert FileTokenStore(path).cache.serialize()  # msal reads it back


def test_keyring_falls_back_to_the_file(tmp_path: Path) -> None:
    """Without msal-extensions (not installed here) the keyring request yields the file store."""
    store = open_token_store(tmp_path / "cache.json", use_keyring=True)
    assert store.location == str(tmp_path / "cache.json")


def test_config_precedence(tmp_path: Path) -> None:
    (tmp_path / "onemount").mkdir()
    (tmp_path / "onemount" / "config.toml").write_text(
        '[auth]\nclient_id = "from-file"\nauthority = "https://file/common"\nuse_keyring = false\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path), "ONEMOUNT_AUTHORITY": "https://env/common"}
    config = load_config(env=env)
    assert (config.client_id, config.authority) == ("from-file", "https://env/common")
    assert config.use_keyring is False
    flagged = load_config(client_id="from-flag", authority="https://flag/common", env=env)
    assert (flagged.client_id, flagged.authority) == ("from-flag", "https://flag/common")
    assert flagged.cache_path == tmp_path / "onemount" / "msal_token_cache.json"


def test_default_config_dir_is_dot_config(tmp_path: Path) -> None:
    config: AuthConfig = load_config(client_id="x", env={"HOME": str(tmp_path)})
    assert config.config_dir == tmp_path / ".config" / "onemount"
