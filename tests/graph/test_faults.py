"""The client against the fake over real TCP, with faults injected by rule.

These are the behaviours no scripted app can show: a gigabyte upload whose fragments are
dropped and whose process is killed, throttling storms measured from the server's side (its
request log holds the server's own arrival times, which a client bug cannot bend), a delta walk
cut by an expired cursor, and downloads resumed after the connection dies mid-body.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from onemount.fakegraph import DriveOptions, FaultRule, LoggedRequest
from onemount.graph import (
    GraphClient,
    GraphConfig,
    ResyncRequired,
    RetryPolicy,
    ServerError,
    Throttled,
)
from onemount.quickxorhash import hash_file
from tests.graph.fake import RunningFake, running_fake

REPO = Path(__file__).resolve().parents[2]
MiB = 1 << 20
UNIT = 320 * 1024


@pytest.fixture
def fake() -> Any:
    with running_fake() as running:
        yield running


def run_client(
    fake: RunningFake,
    check: Callable[[GraphClient], Awaitable[None]],
    policy: RetryPolicy | None = None,
    **config: Any,
) -> None:
    async def main() -> None:
        settings = GraphConfig(base_url=fake.base_url, policy=policy or RetryPolicy(), **config)
        async with GraphClient(fake.tokens, settings) as graph:
            await check(graph)

    trio.run(main)


def arrivals(fake: RunningFake, method: str, path: str) -> list[LoggedRequest]:
    return [r for r in fake.faults.requests() if r.method == method and r.path == path]


def random_file(path: Path, size: int) -> Path:
    """``size`` random bytes (never a repeated block: a resend of the wrong range must show)."""
    with open(path, "wb") as handle:
        left = size
        while left:
            chunk = os.urandom(min(left, 64 * MiB))
            handle.write(chunk)
            left -= len(chunk)
    return path


# -- uploads -----------------------------------------------------------------------------------


def _start_uploader(fake: RunningFake, source: Path, store: Path, fragment: int) -> Any:
    args = {
        "base_url": fake.base_url,
        "token": fake.token,
        "source": str(source),
        "parent": fake.drive.root_id,
        "name": "huge.bin",
        "store": str(store),
        "fragment": fragment,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.graph.upload_child", json.dumps(args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stored_offset(store: Path) -> int:
    try:
        records: dict[str, dict[str, Any]] = json.loads(store.read_text())
    except (FileNotFoundError, ValueError):
        return 0
    first: dict[str, Any] = next(iter(records.values()), {})
    return int(first.get("offset", 0))


@pytest.mark.slow
def test_a_1gib_upload_survives_dropped_fragments_and_a_killed_uploader(
    fake: RunningFake, tmp_path: Path
) -> None:
    size = 1 << 30
    fragment = 32 * UNIT  # 10 MiB, the client's default
    source = random_file(tmp_path / "huge.bin", size)
    store = tmp_path / "sessions.json"
    # Fragment 4 dies with 1 MiB of it on the wire (nothing of it is kept); fragment 8 is
    # stored but its answer is lost, so the client believes it failed and must realign.
    lost_body = fake.faults.add(
        FaultRule(path="/up/*", method="PUT", skip=3, drop="request", drop_after=MiB)
    )
    lost_answer = fake.faults.add(FaultRule(path="/up/*", method="PUT", skip=7, drop="response"))

    first = _start_uploader(fake, source, store, fragment)
    # The progress is another process's: its session record is the only signal, so it is
    # polled, with a deadline, and the poll fails at once if the uploader dies.
    deadline = time.monotonic() + 300
    while _stored_offset(store) < size * 2 // 5:
        assert first.poll() is None, f"the uploader ended early: {first.communicate()}"
        assert time.monotonic() < deadline, "the upload made no progress"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = _stored_offset(store)

    second = _start_uploader(fake, source, store, fragment)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    result = json.loads(out)

    print(
        f"\n1 GiB upload: killed at {killed_at:,} bytes confirmed, resumed from"
        f" {result['resumed_from']:,}, the second process sent {result['sent']:,} bytes"
    )
    assert lost_body.hits == 1 and lost_answer.hits == 1
    assert result["resumed_from"] is not None and result["resumed_from"] >= killed_at > 0
    # The second process sent only what the session still lacked (plus at most the fragment
    # in flight when the first one died): nothing was uploaded twice wholesale.
    assert result["sent"] <= size - result["resumed_from"] + fragment
    item = fake.drive.get(result["id"])
    assert (item.size, item.name, item.parent_id) == (size, "huge.bin", fake.drive.root_id)
    assert item.qxh == result["hash"] == hash_file(source)
    assert hash_file(fake.drive.blob_path(item) or "") == item.qxh  # the stored bytes
    assert not store.exists() or json.loads(store.read_text()) == {}  # the record is cleared


# -- throttling --------------------------------------------------------------------------------


def test_a_429_storm_is_waited_out_as_long_as_the_service_asks(fake: RunningFake) -> None:
    path = "/v1.0/me/drive/root"
    storm = fake.faults.add(FaultRule(path=path, method="GET", status=429, retry_after=1, count=3))

    async def check(graph: GraphClient) -> None:
        root = await graph.root()
        assert root.is_root

    run_client(fake, check)
    seen = arrivals(fake, "GET", path)
    assert [r.status for r in seen] == [429, 429, 429, 200] and storm.hits == 3
    waits = [later.at - earlier.at for earlier, later in itertools.pairwise(seen)]
    print(f"\nwaits after each 429 (Retry-After: 1), server clock: {[f'{w:.3f}' for w in waits]}")
    assert all(wait >= 1.0 for wait in waits), waits  # server clock: the waits really happened
    assert all(wait < 3.0 for wait in waits), waits  # ... and were not padded far beyond it


def test_a_throttle_pauses_every_request_of_the_client(fake: RunningFake) -> None:
    """Graph asks a throttled app to stop *all* its requests (graph-api.md §7)."""
    throttled = "/v1.0/me/drive"
    fake.faults.add(FaultRule(path=throttled, method="GET", status=429, retry_after=2))

    async def check(graph: GraphClient) -> None:
        chatting = trio.Event()
        done = trio.Event()

        async def chatter() -> None:
            # Back to back, for as long as the throttled call runs: always one request on
            # its way, so the pause has something to hold back.
            while not done.is_set():
                await graph.root()
                chatting.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(chatter)
            await chatting.wait()  # the chatter has a request through
            await graph.drive()  # 429, Retry-After 2: the whole client pauses, then retries
            done.set()

    run_client(fake, check)
    log = fake.faults.requests()
    hit = next(r for r in log if r.path == throttled and r.status == 429)
    # Requests already on the wire when the 429 left may still land just after it (allowing
    # for a loaded machine); unpaused, the chatter would send hundreds in this window.
    paused = [r for r in log if hit.at + 0.3 < r.at < hit.at + 2.0]
    assert paused == [], paused
    before = [r for r in log if r.path == "/v1.0/me/drive/root" and r.at < hit.at]
    assert before  # the chatter was running when the 429 came
    assert any(r.at >= hit.at + 2.0 for r in log if r.path == "/v1.0/me/drive/root")


def test_a_storm_longer_than_the_policy_allows_is_reported_with_the_wait(
    fake: RunningFake,
) -> None:
    fake.faults.add(FaultRule(method="GET", path="/v1.0/me/drive", status=503, retry_after=30))

    async def check(graph: GraphClient) -> None:
        with pytest.raises(Throttled) as raised:
            await graph.drive()
        assert raised.value.retry_after == 30

    started = time.monotonic()
    run_client(fake, check, policy=RetryPolicy(max_total=5))
    assert time.monotonic() - started < 5  # it did not sleep 30 s to then give up
    assert len(arrivals(fake, "GET", "/v1.0/me/drive")) == 1


def test_server_errors_are_retried_with_backoff_then_reported(fake: RunningFake) -> None:
    fake.faults.add(FaultRule(method="GET", path="/v1.0/me/drive/root", status=502, count=2))
    fake.faults.add(FaultRule(method="GET", path="/v1.0/me/drive", status=500, count=-1))
    policy = RetryPolicy(max_attempts=3, backoff_base=0.05, backoff_cap=0.2)

    async def check(graph: GraphClient) -> None:
        assert (await graph.root()).is_root  # two 502s, then the answer
        with pytest.raises(ServerError):
            await graph.drive()

    run_client(fake, check, policy=policy)
    assert [r.status for r in arrivals(fake, "GET", "/v1.0/me/drive/root")] == [502, 502, 200]
    assert [r.status for r in arrivals(fake, "GET", "/v1.0/me/drive")] == [500, 500, 500]


# -- delta -------------------------------------------------------------------------------------


def test_a_delta_walk_cut_by_an_expired_cursor_starts_again_and_sees_everything() -> None:
    with running_fake(DriveOptions(delta_page_size=50)) as fake:
        fake.drive.populate(400)
        live = {item.id for item in fake.drive.delta(None, top=10_000).items}
        assert len(live) == 401  # the root and what populate added

        async def check(graph: GraphClient) -> None:
            pages = graph.delta()
            first = await pages.__anext__()
            assert first.next_link is not None  # mid-walk
            fake.drive.expire_delta_tokens()  # the service forgets every token it handed out
            with pytest.raises(ResyncRequired) as raised:
                await pages.__anext__()
            assert raised.value.location is not None
            assert "token=" not in raised.value.location  # a fresh enumeration

            again = graph.delta()
            seen = {item.id for item in await again.all_items()}
            assert seen == live
            assert again.delta_link is not None
            fake.drive.expire_delta_tokens()
            with pytest.raises(ResyncRequired):  # a stored cursor is refused the same way
                await graph.delta(again.delta_link).all_items()

        run_client(fake, check)
        statuses = [r.status for r in fake.faults.requests() if r.path.endswith("/delta")]
        assert statuses.count(410) == 2


# -- downloads ---------------------------------------------------------------------------------


def test_a_download_resumes_where_the_connection_died(fake: RunningFake, tmp_path: Path) -> None:
    data = random_file(tmp_path / "src", 24 * MiB).read_bytes()
    item, _ = fake.drive.put_bytes(fake.drive.root_id, "movie.bin", data)
    cut = fake.faults.add(
        FaultRule(path="/dl/*", method="GET", drop="response", drop_after=5 * MiB)
    )

    async def check(graph: GraphClient) -> None:
        done = await graph.download(item.id, tmp_path / "out", expected_hash=item.qxh)
        assert done.size == len(data)

    run_client(fake, check, policy=RetryPolicy(backoff_base=0.01, backoff_cap=0.05))
    assert cut.hits == 1
    assert (tmp_path / "out").read_bytes() == data
    downloads = [r for r in fake.faults.requests() if r.path.startswith("/dl/")]
    assert len(downloads) == 2  # the cut one and one resumed request, not a restart loop
    assert downloads[0].range is None
    resumed_from = int((downloads[1].range or "").removeprefix("bytes=").removesuffix("-"))
    assert 4 * MiB <= resumed_from <= 5 * MiB  # what arrived before the cut was kept
    assert not list(tmp_path.glob(".out.*.part"))  # no partial file left behind
