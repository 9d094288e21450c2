"""Start-up (spec/mount.yaml) and connectivity (spec/connectivity.yaml), end to end.

* With metadata_v2 present the mount serves from it alone: not one request before it answers,
  even when Graph would take 30 s to reply.
* An offline start from an existing store serves at once; the first delta fails, connectivity
  goes OFFLINE, probes back off, and when Graph is back delta resumes from the stored cursor
  and brings what changed meanwhile.
* A first run with Graph unreachable fails with a clear error; a first run with Graph there
  answers within 2 s, and a folder opened before the enumeration reached it is listed on
  demand and merged (its children keep their inodes when the walk gets there).
* A 401 that no refresh cures parks the loop in AUTH_REQUIRED until a probe finds a valid
  token again (a new sign-in), with no prompt; a 429 is waited out; neither loses the cursor.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import trio

from onemount.engine.backoff import Backoff
from onemount.engine.bootstrap import BootstrapFailed
from onemount.engine.cadence import CadenceConfig
from onemount.engine.delta_loop import DeltaConfig
from onemount.engine.delta_walk import Applied
from onemount.engine.probe import ProbeConfig
from onemount.fakegraph import FaultRule
from onemount.store import ROOT_INODE, queries
from tests.engine.delta_support import (
    admin,
    fake_tree,
    ino_of,
    remote,
    running,
    served_fake,
    store_tree,
    synced,
)

# Probes and retries on a test's scale: the numbers' logic, not their size, is under test.
FAST = DeltaConfig(
    notifications=False,
    probe=ProbeConfig(
        backoff=Backoff(base=0.05, cap=0.5), auth_backoff=Backoff(base=0.05, cap=0.5)
    ),
    cadence=CadenceConfig(active=0.2, idle=1.0, failure=Backoff(base=0.1, cap=0.5)),
)


def _dead_url() -> str:
    """A Graph URL on a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1.0"


def test_with_metadata_the_mount_answers_before_any_request(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with remote(server, db) as (ctx, loop), running(loop), admin(server) as fake:
                await fake.create("a.txt", text="a")
                await synced(loop)
            slow = server.graph.faults.add(FaultRule(path="*", latency=30.0, count=-1))
            started = time.monotonic()
            async with remote(server, db) as (ctx, loop):
                took = time.monotonic() - started
                assert loop.mount_state == "SERVING" and loop.enumerated
                assert queries.resolve_path(ctx.store.reader, "/a.txt") is not None
            print(f"start-up from metadata_v2 with Graph 30 s slow: {took * 1000:.1f} ms")
            assert slow.hits == 0, "a request went out before the mount could answer"
            assert took < 2.0

        trio.run(main)


def test_an_offline_start_serves_then_resumes_delta_from_the_stored_cursor(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.db"
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with remote(server, db) as (ctx, loop), running(loop), admin(server) as fake:
                await fake.create("before.txt", text="b")
                await synced(loop)
            await trio.to_thread.run_sync(server.stop)
            drive = server.graph.drive
            drive.put_bytes(drive.root_id, "while offline.txt", b"o")  # another device
            applied: list[Applied] = []
            async with remote(server, db, FAST, observer=applied.append) as (ctx, loop):
                assert loop.mount_state == "SERVING"
                async with running(loop):
                    failed = await loop.sync()
                    assert isinstance(failed.error, Exception)
                    assert ctx.connectivity.state == "OFFLINE"
                    assert queries.resolve_path(ctx.store.reader, "/before.txt") is not None
                    offline_for = 1.5
                    await trio.sleep(offline_for)  # the outage lasts this long
                    assert loop.prober is not None
                    probes = loop.prober.probes
                    await trio.to_thread.run_sync(server.start)
                    await ctx.sink.wait_for_name("while offline.txt")
                    # Backing off from 0.05 s to 0.5 s (jittered to half), not every 0.05 s.
                    print(f"{probes} probes in {offline_for} s offline")
                    assert 2 <= probes <= 10
                    assert ctx.connectivity.state == "ONLINE"
                    # From the stored cursor: no enumeration, no resync.
                    assert {a.mode for a in applied} == {"incremental"}
                assert store_tree(ctx.store) == fake_tree(drive)

        trio.run(main)


def test_a_first_run_with_graph_unreachable_fails_with_a_clear_error(tmp_path: Path) -> None:
    async def main() -> None:
        started = time.monotonic()
        async with remote(None, tmp_path / "m.db", bootstrap=False, base_url=_dead_url()) as (
            ctx,
            loop,
        ):
            with pytest.raises(BootstrapFailed, match="Graph is unreachable") as failed:
                await loop.bootstrap()
            assert loop.mount_state == "FAILED"
            assert queries.get(ctx.store.reader, ROOT_INODE) is None
        print(f"failed in {time.monotonic() - started:.2f} s: {failed.value}")

    trio.run(main)


def test_a_first_run_answers_at_once_and_lists_a_folder_the_walk_has_not_reached(
    tmp_path: Path,
) -> None:
    with served_fake(tmp_path / "fake", delta_page_size=200) as server:
        drive = server.graph.drive
        drive.populate(3000)
        late = drive.create_folder(drive.root_id, "Late")  # the walk, in order, ends with it
        children = [drive.put_bytes(late.id, f"child {n}.txt", b"x" * n)[0] for n in range(5)]
        # Each page of the walk takes 0.2 s: about 3 s for the whole drive.
        server.graph.faults.add(FaultRule(path="/v1.0/me/drive/root/delta", latency=0.2, count=-1))

        async def main() -> None:
            started = time.monotonic()
            async with remote(server, tmp_path / "m.db") as (ctx, loop):
                answered = time.monotonic() - started
                assert loop.mount_state == "ENUMERATING"
                async with running(loop):
                    # ls /Late, as the FUSE layer does it: the root, then the folder.
                    assert await loop.list_children(ROOT_INODE)
                    late_ino = queries.lookup_ino(ctx.store.reader, ROOT_INODE, "Late")
                    assert late_ino is not None
                    assert await loop.list_children(late_ino)
                    listed = time.monotonic() - started
                    names = {e.name for e in queries.entries(ctx.store.reader, late_ino)}
                    assert names == {f"child {n}.txt" for n in range(5)}
                    assert not loop.enumerated, "the walk finished first: the test proves nothing"
                    inodes = {c.id: ino_of(ctx.store, c.id) for c in children}
                    cycle = await loop.sync()  # ends after the first enumeration completes
                    while not loop.enumerated:
                        cycle = await loop.sync()
                    assert cycle.error is None
                    assert loop.mount_state == "SERVING"
                    walked = time.monotonic() - started
                assert store_tree(ctx.store) == fake_tree(drive)
                assert {c.id: ino_of(ctx.store, c.id) for c in children} == inodes
                again = ctx.store.reader.execute(
                    "SELECT count(*) FROM journal WHERE event = 'remote_appeared'"
                    " GROUP BY item_id HAVING count(*) > 1"
                ).fetchall()
                assert again == []
            print(
                f"first run: answering after {answered:.2f} s, /Late listed after {listed:.2f} s,"
                f" enumeration of {len(fake_tree(drive))} items done after {walked:.2f} s"
            )
            assert answered < 2.0

        trio.run(main)


class SwitchableToken:
    """A token provider whose token the test replaces (a sign-in that happens later)."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def access_token(self, *, force_refresh: bool = False) -> str:
        return self.token


def test_a_401_parks_the_loop_until_a_sign_in_is_noticed_and_a_429_is_waited_out(
    tmp_path: Path,
) -> None:
    with served_fake(tmp_path / "fake") as server:

        async def main() -> None:
            async with remote(server, tmp_path / "m.db", FAST) as (ctx, loop):
                assert ctx.client is not None
                tokens = SwitchableToken(server.token)
                ctx.client.core.tokens = tokens
                async with running(loop), admin(server) as fake:
                    await synced(loop)
                    tokens.token = "revoked"
                    await fake.create("after sign-in.txt", text="s")
                    failed = await loop.sync()
                    assert failed.error is not None
                    assert ctx.connectivity.state == "AUTH_REQUIRED"
                    loop.wake()  # rings do not get past AUTH_REQUIRED, and nothing prompts
                    with trio.move_on_after(0.5):
                        await ctx.sink.wait_for_name("after sign-in.txt")
                    assert "after sign-in.txt" not in ctx.sink.seen_at
                    # `onemount auth login` elsewhere: the provider has a valid token again,
                    # and the prober's next probe proves it.
                    tokens.token = server.token
                    await ctx.sink.wait_for_name("after sign-in.txt")
                    # A 429 with Retry-After on delta: waited out, then applied.
                    server.graph.faults.add(
                        FaultRule(path="/v1.0/*", status=429, retry_after=1, count=1)
                    )
                    await fake.create("after a throttle.txt", text="t")
                    started = trio.current_time()
                    cycle = await loop.sync()
                    assert cycle.error is None
                    assert trio.current_time() - started >= 0.9
                    assert "after a throttle.txt" in ctx.sink.seen_at
                    assert ctx.connectivity.state == "ONLINE"

        trio.run(main)
