"""Fixtures: a real metadata_v2 file in a temporary directory, with its root item."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from onemount.store import StateManager
from tests.store.builders import add_root


def fresh_manager(path: Path) -> StateManager:
    manager = StateManager.open(path)
    add_root(manager)
    return manager


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "metadata_v2.db"


@pytest.fixture
def manager(db_path: Path) -> Iterator[StateManager]:
    opened = fresh_manager(db_path)
    yield opened
    opened.close()
