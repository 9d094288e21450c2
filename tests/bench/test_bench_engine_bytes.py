"""The engine-bytes benchmark still runs end to end (shrunk: 8 MiB, a 4 MiB ghost, 50 files).

Only its shape is checked, never a time: the point is that the benchmark keeps working as the
engine changes under it. Its own checks run too: the client's download has every byte, the
first read returns the bytes asked for, and the outbox ends with nothing pending.
"""

from __future__ import annotations

import pytest

from bench import bench_engine_bytes


def test_collect_runs_shrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "BIG": 8 << 20,
        "GHOST": 4 << 20,
        "_BLOCK": 1 << 20,
        "FILES": 50,
        "REPEAT": 1,
    }.items():
        monkeypatch.setattr(bench_engine_bytes, name, value)

    figures = bench_engine_bytes.collect()

    assert [(f.name, f.unit, f.higher_is_better) for f in figures] == [
        ("engine hydration 8 MiB", "MB/s", True),
        ("engine first byte of a 4 MiB ghost", "ms", False),
        ("engine upload of 50 small files", "files/s", True),
    ]
    for figure in figures:
        assert figure.value > 0 and figure.baseline_value > 0
