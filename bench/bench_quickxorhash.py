"""QuickXorHash throughput against hashlib.sha1 over the same 256 MiB buffer.

SHA-1 is the baseline because it is the C-implemented hash a reader has a feel for, and the
buffer is fed in 8 MiB chunks, the way ``hash_file`` feeds it, so the figure includes the
partial-block carrying a real upload pays.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from bench.harness import Figure, best_time
from onemount.quickxorhash import QuickXorHash

SIZE = 256 << 20
CHUNK = 8 << 20
MB = 1e6


def _feed(update: Callable[[memoryview], object], buffer: memoryview) -> None:
    for start in range(0, len(buffer), CHUNK):
        update(buffer[start : start + CHUNK])


def collect() -> list[Figure]:
    buffer = memoryview(os.urandom(SIZE))

    def qxh() -> None:
        hasher = QuickXorHash()
        _feed(hasher.update, buffer)
        hasher.digest()

    def sha1() -> None:
        _feed(hashlib.sha1().update, buffer)

    qxh_seconds = best_time(qxh, number=1, repeat=3)
    sha1_seconds = best_time(sha1, number=1, repeat=3)
    return [
        Figure(
            name="quickxorhash 256 MiB",
            unit="MB/s",
            value=SIZE / qxh_seconds / MB,
            baseline_name="hashlib.sha1",
            baseline_value=SIZE / sha1_seconds / MB,
            higher_is_better=True,
            note="8 MiB chunks, os.urandom data",
        )
    ]
