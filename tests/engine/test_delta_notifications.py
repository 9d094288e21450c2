"""Change notifications wired into the delta loop, and the polling that replaces them.

* Latency: 20 changes made through the fake's admin API one after another; for each, the time
  from the admin call's answer to the store holding the change (the sink hears of it after the
  commit). With notifications healthy the cadence polls only every 15 min, so every one of
  these deltas was started by a notification. Median and max are printed.
* A subscription endpoint that answers 403 makes the notifier UNAVAILABLE (asked once, not
  hammered) and the cadence polls instead: the change is found all the same.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import trio

from onemount.engine.cadence import CadenceConfig
from onemount.engine.delta_loop import DeltaConfig
from onemount.engine.notifications import NotifierState
from onemount.fakegraph import FaultRule
from tests.engine.delta_support import admin, remote, running, served_fake, synced
from tests.engine.harness import SOCKET_IO, tasks_alive

CHANGES = 20


def test_a_remote_change_reaches_the_store_within_a_second_of_its_notification(
    tmp_path: Path,
) -> None:
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db", DeltaConfig()) as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                assert loop.notifier is not None
                with trio.fail_after(30):
                    await loop.notifier.wait_for(NotifierState.CONNECTED)
                await synced(loop)
                polls_before = loop.cadence.next_delay(trio.current_time())
                assert polls_before > 60, "with notifications healthy, polling is the safety net"
                latencies = []
                for n in range(CHANGES):
                    name = f"change {n:02d}.txt"
                    await fake.create(name, text=str(n))
                    changed = trio.current_time()
                    arrived = await ctx.sink.wait_for_name(name)
                    latencies.append(max(0.0, arrived - changed))
                assert loop.notifier.health.state is NotifierState.CONNECTED
            median, worst = statistics.median(latencies), max(latencies)
            print(
                f"\nadmin change -> store, {CHANGES} changes: median {median:.3f} s,"
                f" max {worst:.3f} s"
            )
            assert median < 1.0

        trio.run(main)


def test_a_refused_subscription_falls_back_to_polling(tmp_path: Path) -> None:
    with served_fake(tmp_path / "fake") as server:
        server.graph.faults.add(FaultRule(path=SOCKET_IO, method="GET", status=403, count=-1))
        config = DeltaConfig(cadence=CadenceConfig(active=0.2, idle=0.5))

        async def main() -> None:
            async with (
                remote(server, tmp_path / "m.db", config) as (ctx, loop),
                running(loop),
                admin(server) as fake,
            ):
                assert loop.notifier is not None
                with trio.fail_after(30):
                    refused = await loop.notifier.wait_for(NotifierState.UNAVAILABLE)
                assert "403" in refused.reason
                await synced(loop)
                await fake.create("found by polling.txt", text="p")
                changed = trio.current_time()
                arrived = await ctx.sink.wait_for_name("found by polling.txt")
                print(
                    f"\nsubscription refused (403): found by polling in {arrived - changed:.2f} s"
                )
                asked = [r for r in server.graph.faults.requests() if r.path == SOCKET_IO]
                assert len(asked) == 1 and asked[0].status == 403

        trio.run(main)


def test_cancelling_the_loop_leaves_no_task_behind(tmp_path: Path) -> None:
    with served_fake(tmp_path / "fake") as server:
        # The first delta hangs for 30 s: cancellation must reach it too.
        server.graph.faults.add(FaultRule(path="/v1.0/me/drive/root/delta", latency=30.0))

        async def main() -> None:
            before = tasks_alive()
            async with remote(server, tmp_path / "m.db", DeltaConfig()) as (_, loop):
                async with trio.open_nursery() as nursery:
                    await nursery.start(loop.run)
                    assert loop.notifier is not None
                    with trio.fail_after(30):
                        await loop.notifier.wait_for(NotifierState.CONNECTED)
                    assert len(tasks_alive()) > len(before)  # loop, notifier, prober, fetcher
                    nursery.cancel_scope.cancel()
                assert tasks_alive() == before

        trio.run(main)
