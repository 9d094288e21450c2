"""The Graph client against raw httpx, both talking to the same fake Graph over real TCP.

Figures (each with a baseline measured in the same run, against the same server):

* **download 1 GiB** (MB/s): ``GraphClient.download(item_id, dest, expected_hash=...)``, timed
  from the first request to the return: ``GET .../items/{id}/content`` with the bearer token, the
  302 to the pre-authenticated ``/dl/{token}`` URL, the body batched (4 MiB) to a worker thread
  that writes it (``writev``) and QuickXorHashes it, the hash compared, fsync, the rename over
  ``dest``. The **baseline** is one ``httpx.AsyncClient().stream("GET", url)`` of that same
  ``/dl/{token}`` URL (what the item's ``@microsoft.graph.downloadUrl`` carries): every
  ``aiter_raw()`` chunk written with ``os.write``, on the trio loop, to a new file in the same
  temporary folder, then ``fsync`` and ``close``. So it does the same disk work (1 GiB written
  and fsynced on the same disk) and leaves out only what the client adds: the ``/content``
  request and its redirect, the retry loop, the hand-off to a worker thread, hashing, the
  rename. Building each
  HTTP client (its TLS context alone costs tens of milliseconds) and deleting the previous
  output happen before the clock starts, on both sides.
* **delta 100,000 items** (items/s), with the fake serving pages of 200 and of 1000 items: the
  first enumeration (no token) through ``GraphClient.delta(None).all_items()``, which asks for
  the client's ``$select`` (``DELTA_SELECT``), checks each page's links and parses every item
  into a ``DriveItem``. The **baseline** GETs the same first URL (same path, same ``$select``,
  same bearer token) with a plain ``httpx.AsyncClient``, follows ``@odata.nextLink`` until the
  page with the deltaLink and ``json.loads`` every body, counting ``value``: no item parsing,
  no link checks, no retry loop. The count (100,000 plus the root) is checked on both sides.

The client runs with ``rate=inf``: its default limiter (50 requests/s, bursts of 100) is a
politeness policy toward Graph, not a cost, and would cap a walk in pages of 200 at about
10,000 items/s whatever the code does.

The fake runs as ``onemount fakegraph serve`` in a process of its own (hypercorn on 127.0.0.1),
as Graph would: the drive is set up in this process first, then served. Each side is run
``REPEAT`` times, alternating with the other, and its best run counts.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import trio

from bench.harness import Figure
from onemount.fakegraph import FakeDrive
from onemount.graph import GraphClient, GraphConfig, StaticToken
from onemount.graph.paging import DELTA_SELECT

SIZE = 1 << 30
ITEMS = 100_000
PAGE_SIZES = (200, 1000)
REPEAT = 3
MB = 1e6
_BLOCK = 16 << 20  # the 1 GiB file is one random block repeated (hashing cost is data-blind)


@dataclass(frozen=True)
class _Fake:
    origin: str
    token: str

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1.0"

    def client(self) -> GraphClient:
        return GraphClient(
            StaticToken(self.token), GraphConfig(base_url=self.base_url, rate=math.inf)
        )

    def set_options(self, **options: object) -> None:
        httpx.post(f"{self.origin}/_fake/options", json=options).raise_for_status()


@contextmanager
def _served(folder: Path) -> Iterator[_Fake]:
    """``onemount fakegraph serve`` on the drive in ``folder``, in a process of its own.

    A real client never shares an interpreter with Graph: in one process the server thread
    and the measured side would fight over one GIL, which taxes a client that hands work to a
    worker thread (the downloader does) more than a baseline that does not.
    """
    command = [sys.executable, "-m", "onemount", "fakegraph", "serve", "--json"]
    server = subprocess.Popen([*command, "--data", str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        endpoint = json.loads(server.stdout.readline())
        yield _Fake(endpoint["base_url"].removesuffix("/v1.0"), endpoint["token"])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


Timed = Callable[[], Awaitable[object]]


def _best_alternating(sides: list[Callable[[], Timed]]) -> list[float]:
    """Best wall-clock seconds of each side, the sides alternating ``REPEAT`` times.

    A side is a function that prepares one run (builds its HTTP client, whose TLS context
    alone costs tens of milliseconds, outside the clock) and returns the async run to time,
    each in a fresh ``trio.run``.
    """
    best = [math.inf] * len(sides)
    for _ in range(REPEAT):
        for index, prepare in enumerate(sides):
            run = prepare()
            start = time.perf_counter()
            trio.run(run)
            best[index] = min(best[index], time.perf_counter() - start)
    return best


# -- download ---------------------------------------------------------------------------------


def _size(size: int) -> str:
    return f"{size >> 30} GiB" if size % (1 << 30) == 0 else f"{size >> 20} MiB"


def _write_big_file(path: Path) -> None:
    block = os.urandom(_BLOCK)
    with path.open("wb") as out:
        for _ in range(SIZE // _BLOCK):
            out.write(block)


async def _raw_download(http: httpx.AsyncClient, url: str, dest: Path) -> None:
    written = 0
    async with http, http.stream("GET", url) as response:
        response.raise_for_status()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            async for data in response.aiter_raw():
                view = memoryview(data)
                while view:
                    done = os.write(fd, view)
                    written += done
                    view = view[done:]
            os.fsync(fd)
        finally:
            os.close(fd)
    if written != SIZE:
        raise RuntimeError(f"the raw download wrote {written} bytes, not {SIZE}")


def _download_figure(folder: Path) -> Figure:
    drive = FakeDrive(folder / "drive")  # set up in this process, served from another
    source = folder / "big.bin"
    _write_big_file(source)
    item = drive.put_file(drive.root_id, "big.bin", source)
    token = drive.download_token(item)
    drive.close()
    with _served(folder / "drive") as fake:
        url = f"{fake.origin}/dl/{token}"
        target = folder / "out.bin"

        def client() -> Timed:
            target.unlink(missing_ok=True)
            graph = fake.client()

            async def run() -> None:
                async with graph:
                    done = await graph.download(item.id, target, expected_hash=item.qxh)
                if done.size != SIZE:
                    raise RuntimeError(f"the client downloaded {done.size} bytes, not {SIZE}")

            return run

        def raw() -> Timed:
            target.unlink(missing_ok=True)
            return partial(_raw_download, httpx.AsyncClient(), url, target)

        client_s, raw_s = _best_alternating([client, raw])
    return Figure(
        name=f"graph download {_size(SIZE)}",
        unit="MB/s",
        value=SIZE / client_s / MB,
        baseline_name="httpx stream+write+fsync",
        baseline_value=SIZE / raw_s / MB,
        higher_is_better=True,
        note=f"best of {REPEAT}; fake in its own process, over TCP; the client also hashes",
    )


# -- delta ------------------------------------------------------------------------------------


async def _raw_delta(http: httpx.AsyncClient, url: str, expected: int) -> None:
    """The walk from ``url``: every page fetched and decoded, its items counted, not parsed."""
    count = 0
    next_url: str | None = url
    async with http:
        while next_url is not None:
            response = await http.get(next_url)
            response.raise_for_status()
            page = json.loads(response.content)
            count += len(page["value"])
            next_url = page.get("@odata.nextLink")
    if count != expected:
        raise RuntimeError(f"the raw delta walk saw {count} items, not {expected}")


async def _client_delta(graph: GraphClient, expected: int) -> None:
    async with graph:
        count = len(await graph.delta(None).all_items())
    if count != expected:
        raise RuntimeError(f"the client's delta walk saw {count} items, not {expected}")


def _delta_figure(fake: _Fake, expected: int, page_size: int) -> Figure:
    fake.set_options(delta_page_size=page_size)
    # The first URL exactly as the client builds it (same path, same $select).
    first = httpx.URL(f"{fake.base_url}/me/drive/root/delta", params={"$select": DELTA_SELECT})
    auth = {"Authorization": f"Bearer {fake.token}"}

    def client() -> Timed:
        return partial(_client_delta, fake.client(), expected)

    def raw() -> Timed:
        return partial(_raw_delta, httpx.AsyncClient(headers=auth), str(first), expected)

    client_s, raw_s = _best_alternating([client, raw])
    return Figure(
        name=f"graph delta {ITEMS // 1000}k items, pages of {page_size}",
        unit="items/s",
        value=expected / client_s,
        baseline_name="httpx GET+json.loads",
        baseline_value=expected / raw_s,
        higher_is_better=True,
        note=f"best of {REPEAT}; first enumeration; the client parses DriveItems",
    )


def _delta_figures(folder: Path) -> list[Figure]:
    drive = FakeDrive(folder / "drive")
    expected = drive.populate(ITEMS) + 1  # and the root
    drive.close()
    with _served(folder / "drive") as fake:
        return [_delta_figure(fake, expected, page_size) for page_size in PAGE_SIZES]


def collect() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        folder = Path(tmp)
        (folder / "download").mkdir()
        (folder / "delta").mkdir()
        return [_download_figure(folder / "download"), *_delta_figures(folder / "delta")]
