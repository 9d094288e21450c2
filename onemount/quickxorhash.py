"""QuickXorHash, the content hash OneDrive reports for every file (Personal and Business).

The algorithm XORs byte ``i`` of the stream into a 160-bit accumulator at bit ``(i*11) % 160``.
Since ``160*11`` is a multiple of 160, the placement of a byte depends on its offset modulo 160
alone. So the stream can be XOR-folded, at numpy speed,
into one 160-byte block (``fold[k]`` = XOR of every byte whose offset is ``k`` mod 160), and the
160 folded bytes are placed into the accumulator once, at digest time, with Python integer
rotations. The per-byte work is then a single vectorised XOR over 64-bit words.
"""

from __future__ import annotations

import base64
import os

import numpy as np

_WIDTH = 160
_SHIFT = 11
_MASK = (1 << _WIDTH) - 1
_BLOCK = _WIDTH  # the placement pattern repeats every 160 bytes
_WORDS = _BLOCK // 8  # 20 uint64 words per 160-byte block


class QuickXorHash:
    """Streaming QuickXorHash: feed any number of chunks, of any size, then ask for the digest.

    State is the 160-byte fold, the absolute length, and a partial block (fewer than 160 bytes)
    carried between ``update`` calls so that every fold stays aligned to offset 0 mod 160.
    """

    __slots__ = ("_fold", "_length", "_pending")

    def __init__(self) -> None:
        self._fold = np.zeros(_WORDS, dtype=np.uint64)
        self._length = 0
        self._pending = bytearray()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Fold ``data`` into the state; the result does not depend on how the stream is split."""
        view = memoryview(data).cast("B")
        self._length += len(view)
        if self._pending:
            take = min(_BLOCK - len(self._pending), len(view))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < _BLOCK:
                return
            self._fold_blocks(self._pending)
            self._pending = bytearray()
        whole = len(view) - len(view) % _BLOCK
        if whole:
            self._fold_blocks(view[:whole])
        self._pending += view[whole:]

    def _fold_blocks(self, blocks: bytes | bytearray | memoryview) -> None:
        # A (n, 20) uint64 view needs no copy; reduce XORs the rows together.
        rows = np.frombuffer(blocks, dtype=np.uint64).reshape(-1, _WORDS)
        self._fold ^= np.bitwise_xor.reduce(rows, axis=0)

    def digest(self) -> bytes:
        """The 20-byte hash of everything fed so far; the state is left unchanged."""
        folded = bytearray(self._fold.tobytes())
        for offset, byte in enumerate(self._pending):
            folded[offset] ^= byte
        acc = 0
        for offset, byte in enumerate(folded):
            if byte:
                shift = (offset * _SHIFT) % _WIDTH
                acc ^= ((byte << shift) | (byte >> (_WIDTH - shift))) & _MASK
        out = bytearray(acc.to_bytes(_WIDTH // 8, "little"))
        length = self._length.to_bytes(8, "little")
        for k in range(8):
            out[12 + k] ^= length[k]
        return bytes(out)

    def b64digest(self) -> str:
        """The digest as OneDrive reports it in ``file.hashes.quickXorHash`` (28 characters)."""
        return base64.b64encode(self.digest()).decode("ascii")


def quickxorhash_b64(data: bytes) -> str:
    """The base64 QuickXorHash of one buffer."""
    hasher = QuickXorHash()
    hasher.update(data)
    return hasher.b64digest()


def hash_file(path: str | os.PathLike[str], chunk_size: int = 8 << 20) -> str:
    """The base64 QuickXorHash of a file, read in ``chunk_size`` pieces to bound memory."""
    hasher = QuickXorHash()
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(view):
            hasher.update(view[:count])
    return hasher.b64digest()
