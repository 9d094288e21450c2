"""What the FUSE tests stand on: real mounts in real processes (see tests/fs/harness.py)."""

from __future__ import annotations

import os

import pytest


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
