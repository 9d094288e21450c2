"""The benchmark's sample database is a valid store with a mix of states, reached by fire."""

from __future__ import annotations

from pathlib import Path

from bench.bench_store import make_db
from onemount.store import open_reader
from onemount.store.stats import collect
from onemount.store.validate import validate


def test_sample_database_is_healthy_and_varied(tmp_path: Path) -> None:
    path = tmp_path / "sample.db"
    make_db(path, 3000)
    conn = open_reader(path)
    assert validate(conn) == []
    stats = collect(conn)
    conn.close()
    assert {"GHOST", "HYDRATED", "HYDRATING", "DIRTY_LOCAL", "DELETED_LOCAL", "ERROR"} <= set(
        stats["states"]
    )
    assert sum(stats["states"].values()) > 3000  # plus the local creations
    assert stats["directories"]["depth_max"] >= 2
    assert stats["intents"]["waiting"].keys() == {"upload", "delete"}
