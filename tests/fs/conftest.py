"""What the FUSE tests stand on: real mounts in real processes (see tests/fs/harness.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from onemount.fakegraph.sample import seed_sample
from tests.engine.harness import Served
from tests.engine.harness import served as serving
from tests.fs.harness import Mount


def fuse_available() -> str | None:
    """Why a real mount cannot run here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = fuse_available()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("fuse"):
            item.add_marker(pytest.mark.skip(reason=f"fuse test: {reason}"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The fake Graph with the sample drive, served from a thread (see tests/fs/harness.py)."""
    with serving(tmp_path / "graph") as server:
        seed_sample(server.graph.drive)
        yield server


@pytest.fixture
def unstarted(tmp_path: Path, served: Served) -> Iterator[Mount]:
    """A mount of ``served`` at ``tmp_path/m/od``, not started yet; cleaned up after."""
    mount = Mount(tmp_path / "m", served)
    try:
        yield mount
    finally:
        mount.close()


@pytest.fixture
def mount(unstarted: Mount) -> Mount:
    """A started mount of the sample drive."""
    unstarted.start()
    return unstarted
