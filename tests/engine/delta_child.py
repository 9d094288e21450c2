"""A delta loop in a process of its own, for the tests that SIGKILL it (test_delta_crash.py).

``python -m tests.engine.delta_child DB BASE_URL TOKEN`` starts up on the store at DB (the
mount machine's bootstrap), syncs against the Graph at BASE_URL until a sync finds nothing new,
prints ``done`` and exits. After every ingest it prints ``applied <mode> <entries> <cursor>``
and flushes, so the parent can kill it at a chosen page, while the next one is being applied.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from onemount.engine.delta_loop import DeltaConfig, DeltaLoop
from onemount.engine.delta_walk import Applied
from onemount.engine.store import EngineStore
from onemount.graph import Connectivity, GraphClient, GraphConfig, StaticToken
from tests.engine.delta_support import QUICK, Remote


def _report(applied: Applied) -> None:
    print(f"applied {applied.mode} {applied.entries} {applied.cursor}", flush=True)


async def main(db: Path, base_url: str, token: str) -> None:
    connectivity = Connectivity()
    store = EngineStore(db)
    config = GraphConfig(base_url=base_url, policy=QUICK, rate=float("inf"))
    async with GraphClient(StaticToken(token), config, listener=connectivity) as client:
        loop = DeltaLoop(
            Remote(store, client, connectivity), DeltaConfig(notifications=False), observer=_report
        )
        await loop.bootstrap()
        async with trio.open_nursery() as nursery:
            await nursery.start(loop.run)
            while True:
                cycle = await loop.sync()
                if cycle.error is not None:
                    raise cycle.error
                assert cycle.outcome is not None
                if not cycle.outcome.changed:
                    break
            nursery.cancel_scope.cancel()
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]), sys.argv[2], sys.argv[3])
