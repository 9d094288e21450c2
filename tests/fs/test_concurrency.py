"""Many processes and threads at once on one mount: nothing is lost, mixed up or served stale."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fs.harness import Mount

pytestmark = pytest.mark.fuse

_CREATE = """
import os, sys
folder, who = sys.argv[1], sys.argv[2]
for index in range(50):
    with open(os.path.join(folder, f"{who}-{index}.txt"), "w") as file:
        file.write(f"{who} {index}\\n")
"""


def test_readers_and_writers_at_once(mount: Mount) -> None:
    clip = mount.path("Videos/clip.bin")
    expected = hashlib.sha256(mount.remote_bytes("Videos/clip.bin")).hexdigest()
    blobs = {f"w{index}.bin": os.urandom(8 << 20) for index in range(4)}

    def write(name: str) -> None:
        with mount.path(name).open("wb") as file:
            data = blobs[name]
            for offset in range(0, len(data), 64 << 10):
                file.write(data[offset : offset + (64 << 10)])

    def read(_: int) -> str:
        return hashlib.sha256(clip.read_bytes()).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        writes = [pool.submit(write, name) for name in blobs]
        reads = [pool.submit(read, index) for index in range(8)]  # the first ones hydrate it
        assert {r.result() for r in reads} == {expected}
        for w in writes:
            w.result()
    for name, data in blobs.items():
        assert mount.path(name).read_bytes() == data
    mount.sync()
    for name, data in blobs.items():
        assert mount.remote_bytes(name) == data


def test_processes_creating_in_one_folder(mount: Mount) -> None:
    folder = mount.path("crowd")
    folder.mkdir()
    workers = [
        subprocess.Popen([sys.executable, "-c", _CREATE, str(folder), f"p{index}"])
        for index in range(4)
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0, 0]
    names = os.listdir(folder)
    assert len(names) == len(set(names)) == 200
    for name in names:
        who, index = name.removesuffix(".txt").split("-")
        assert (folder / name).read_text() == f"{who} {index}\n"
    mount.sync()
    assert mount.drive.child_count(mount.item("crowd").id) == 200


def test_a_reader_following_a_writer(mount: Mount) -> None:
    path = mount.path("growing.log")
    lines = [f"line {index:05d}\n".encode() for index in range(500)]
    written = threading.Event()
    path.write_bytes(b"")

    def writer() -> None:
        with path.open("ab") as file:
            for line in lines:
                file.write(line)
                file.flush()
        written.set()

    thread = threading.Thread(target=writer)
    thread.start()
    whole = b"".join(lines)
    seen = 0
    while not written.is_set() or seen < len(whole):
        data = path.read_bytes()
        assert whole.startswith(data)  # a prefix of what was written, never other bytes
        seen = len(data)
    thread.join()
    assert path.read_bytes() == whole


def test_listing_while_the_folder_changes(mount: Mount, tmp_path: Path) -> None:
    folder = mount.path("churn")
    folder.mkdir()
    for index in range(100):
        (folder / f"stay-{index}").write_text("s")
    stop = threading.Event()

    def churn() -> None:
        index = 0
        while not stop.is_set():
            (folder / f"churn-{index}").write_text("c")
            (folder / f"churn-{index}").unlink()
            index += 1

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(10):
            names = [n for n in os.listdir(folder) if n.startswith("stay-")]
            assert sorted(names) == sorted(f"stay-{index}" for index in range(100))
    finally:
        stop.set()
        thread.join()
