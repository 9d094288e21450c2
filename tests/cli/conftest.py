"""What the CLI tests stand on: the real command line against real mounts of the fake Graph.

The mounts are tests/fs/harness.py's (``onemount mount --daemon`` in its own process, the fake
served from a thread of the test so a test can act on the drive as another device would). Each
command runs as a user runs it, ``python -m onemount ...`` in its own process, and a test
checks what it prints and its exit status.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from onemount.fakegraph.sample import seed_sample
from tests.engine.harness import Served
from tests.engine.harness import served as serving
from tests.fs.conftest import fuse_available
from tests.fs.harness import Mount, onemount


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = fuse_available()
    for item in items:
        if reason is not None and item.get_closest_marker("fuse"):
            item.add_marker(pytest.mark.skip(reason=f"fuse test: {reason}"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The fake Graph with the sample drive, served from a thread."""
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


def cli(mount: Mount, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``onemount ARGS`` run as a user would, in the mount's environment."""
    return onemount(*args, env=mount.env, timeout=timeout)


def one_line(stderr: str) -> str:
    """The one error line a failing command prints after any progress lines (never a
    traceback)."""
    errors = [line for line in stderr.splitlines() if line.startswith("onemount ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    assert stderr.rstrip().endswith(errors[0]), stderr
    return errors[0]
