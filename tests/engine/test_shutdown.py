"""Unmount with changes the server has not got: they are counted, kept, and sent first next time.

The engine is stopped the way ``onemount unmount`` stops it (:meth:`Engine.shutdown`: the
outbox drains until the drain deadline, then every task ends), here while the drive is offline,
so nothing can drain. What is left is what unmount reports (``pending_changes``); the next start
on the same cache sends those changes before any change made after it.
"""

from __future__ import annotations

from pathlib import Path

import trio

from onemount.engine.engine import Engine
from tests.engine.bytes_support import (
    BytesSink,
    Mount,
    assert_trees_equal,
    build_engine,
    mounted,
    quiet,
    remote_tree,
    with_config,
)
from tests.engine.harness import Served, served

BEFORE = {"/a.txt": b"written before the unmount", "/b.txt": b"this one too"}


async def _shut_down_offline(server: Served, cache: Path) -> int:
    """Start, write while offline, shut down; the count unmount would print."""
    config = with_config(drain_deadline=5.0)
    engine = build_engine(server.base_url, server.token, cache, config)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            assert isinstance(engine.sink, BytesSink)
            mount = Mount(engine, server, engine.sink)
            await quiet(mount)
            await mount.offline()
            for path, data in BEFORE.items():
                await mount.write(path, data)
            await mount.mkdir("/folder")
            engine.shutdown()  # run() returns once the drain is over: the nursery ends
        return engine.pending_changes()
    finally:
        await _close(engine)


async def _close(engine: Engine) -> None:
    assert engine.client is not None
    await engine.client.aclose()
    engine.store.close()


def test_unmount_counts_what_is_pending_and_the_next_start_sends_it_first(
    tmp_path: Path,
) -> None:
    with served(tmp_path / "fake") as server:

        async def main() -> None:
            cache = tmp_path / "cache"
            assert await _shut_down_offline(server, cache) == 3
            assert remote_tree(server.graph.drive) == {}  # nothing reached the server
            await trio.to_thread.run_sync(server.start)
            server.graph.faults.clear_log()
            # One worker: the order requests reach the server is the order jobs start.
            async with mounted(server, cache, with_config(upload_workers=1)) as m:
                await m.write("/after.txt", b"written after the restart")
                await quiet(m)
                assert await assert_trees_equal(m) == {
                    **BEFORE,
                    "/folder": None,
                    "/after.txt": b"written after the restart",
                }
                assert m.engine.pending_changes() == 0
                sent = [
                    r.path
                    for r in server.graph.faults.requests()
                    if (r.method == "PUT" and r.path.endswith(":/content"))
                    or (r.method == "POST" and r.path.endswith("/children"))
                ]
                names = [path.rsplit(":/", 2)[-2] if ":/" in path else "mkdir" for path in sent]
                assert sorted(names[:3]) == ["a.txt", "b.txt", "mkdir"], sent
                assert names[3:] == ["after.txt"], sent

        trio.run(main)
