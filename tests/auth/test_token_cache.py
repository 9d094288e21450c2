"""The token cache file: private from creation, whole after a crash, rewritten only on change."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import threading
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
            # Another process: nothing to wait on but the file, so it is polled, with a deadline.
            deadline = time.monotonic() + 30
            while not path.exists():
                assert writer.poll() is None, "writer died before writing"
                assert time.monotonic() < deadline, "the writer wrote nothing"
                time.sleep(0.01)
            time.sleep(random.uniform(0.02, 0.2))  # not a wait: a random moment to kill it at
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        data = json.loads(path.read_text())
        assert len(data["AppMetadata"]["n"]["pad"]) == 200_000
        assert mode(path) == 0o600
        assert FileTokenStore(path).cache.serialize()  # msal reads it back


def test_concurrent_saves_never_tear_the_file(tmp_path: Path) -> None:
    """Saves run on worker threads, so they can overlap: several threads saving one store and
    several stores saving one path. A reader sees a whole cache every time, one of the
    versions written; nothing fails, nothing is left behind, the file stays 0600."""
    path = tmp_path / "onemount" / "cache.json"
    stores = [FileTokenStore(path) for _ in range(3)]
    rounds = 25
    pad = "x" * 100_000  # long enough for writes to overlap
    start = threading.Barrier(7)  # six writers and the reader
    written = threading.Event()
    failures: list[BaseException] = []
    reads: list[dict[str, int]] = []

    def writer(number: int) -> None:
        store = stores[number % len(stores)]  # two threads per store
        try:
            start.wait()
            for round_ in range(rounds):
                version = {"writer": number, "round": round_, "pad": pad}
                store.cache.deserialize(json.dumps({"AppMetadata": {"v": version}}))
                store.cache.has_state_changed = True
                store.save()
        except BaseException as exc:
            failures.append(exc)

    def reader() -> None:
        start.wait()
        while not written.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue  # before the first save
            try:
                version = json.loads(text)["AppMetadata"]["v"]
            except (ValueError, KeyError) as exc:
                failures.append(AssertionError(f"a torn cache of {len(text)} chars: {exc}"))
                return
            assert version["pad"] == pad
            reads.append({"writer": version["writer"], "round": version["round"]})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    watcher = threading.Thread(target=reader)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join()
    written.set()
    watcher.join()

    assert failures == []
    assert reads, "the reader never saw a cache"
    assert all(0 <= r["writer"] < 6 and 0 <= r["round"] < rounds for r in reads)
    final = json.loads(path.read_text())["AppMetadata"]["v"]
    assert final["round"] == rounds - 1  # the last save of some writer
    assert mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["cache.json"]  # no temporary left


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
