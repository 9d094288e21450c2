"""A mount's engine in a process of its own, writing files and uploading them until it is killed.

``python -m tests.engine.bytes_child '<json>'`` with ``base_url``, ``token``, ``cache``,
``files`` (``[[name, size, seed], ...]``), ``simple_upload_limit`` and ``fragment``. It runs the
whole engine against the Graph at ``base_url``, writes each file through LocalOps (the bytes of
``random.Random(seed).randbytes(size)``, so the parent can check them), prints ``written`` and
keeps uploading. The parent SIGKILLs it part-way (tests/engine/test_faults_bytes.py).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import trio

from onemount.store import ROOT_INODE
from tests.engine.bytes_support import TEST_CONFIG, build_engine


def content(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def main(args: dict[str, object]) -> None:
    graph = {"simple_upload_limit": args["simple_upload_limit"], "fragment_size": args["fragment"]}
    engine = build_engine(
        str(args["base_url"]), str(args["token"]), Path(str(args["cache"])), TEST_CONFIG, **graph
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        for name, size, seed in args["files"]:  # type: ignore[attr-defined]
            _, handle = await engine.local.create(ROOT_INODE, name, 0o644)
            await engine.local.write(handle.fh, 0, content(size, seed))
            await engine.local.release(handle.fh)
        print("written", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, json.loads(sys.argv[1]))
