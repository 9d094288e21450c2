"""The store benchmark still runs end to end (shrunk: 2,000 items, one turn per side).

Only its shape is checked, never a time: the point is that the benchmark keeps working as the
store changes under it. Its own checks run too: both page orders end in the same rows, held
entries are all released, the no-op page writes nothing and the changing page every row.
"""

from __future__ import annotations

import pytest

from bench import bench_store


def test_collect_runs_shrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ITEMS": 2_000,
        "CHANGED": 100,
        "LISTED": 500,
        "ROUNDS": 1,
        "MICRO_ROUNDS": 1,
        "MICRO_CALLS": 200,
        "WRITE_CALLS": 20,
    }.items():
        monkeypatch.setattr(bench_store, name, value)

    figures = bench_store.collect()

    assert [(f.name, f.unit) for f in figures] == [
        ("delta.ingest 2,000 items, pages of 200, parents first", "items/s"),
        ("delta.ingest 2,000 items, pages of 200, pages shuffled", "items/s"),
        ("a page of 100 remote_changed that change nothing", "ms"),
        ("getattr: queries.attrs by inode", "ns/op"),
        ("lookup: queries.lookup_attrs by (parent, name)", "ns/op"),
        ("lookup by (parent, name), case-insensitive: queries.lookup_ino", "lookups/s"),
        ("list a 500-child directory: queries.children (rows)", "ms"),
        ("list a 500-child directory: queries.entries (readdir)", "ms"),
        ("note_write: a later write to a dirty file", "µs/op"),
        ("note_write: a later write to a dirty file", "µs/op"),
    ]
    for figure in figures:
        assert figure.value > 0 and figure.baseline_value > 0
