"""The Graph benchmark still runs end to end (shrunk: 32 MiB, 1,000 items, one run per side).

Only its shape is checked, never a time: the point is that the benchmark keeps working as the
client and the fake change under it.
"""

from __future__ import annotations

import pytest

from bench import bench_graph


def test_collect_runs_shrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_graph, "SIZE", 32 << 20)
    monkeypatch.setattr(bench_graph, "_BLOCK", 1 << 20)
    monkeypatch.setattr(bench_graph, "ITEMS", 1_000)
    monkeypatch.setattr(bench_graph, "PAGE_SIZES", (100,))
    monkeypatch.setattr(bench_graph, "REPEAT", 1)

    figures = bench_graph.collect()

    assert [(f.name, f.unit) for f in figures] == [
        ("graph download 32 MiB", "MB/s"),
        ("graph delta 1k items, pages of 100", "items/s"),
    ]
    for figure in figures:
        assert figure.value > 0 and figure.baseline_value > 0
        assert figure.higher_is_better
