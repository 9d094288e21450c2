"""Serving the fake: a real hypercorn server on 127.0.0.1, in a thread (tests) or in the
foreground (``onemount fakegraph serve``).

The server runs its own trio loop. In a thread, tests drive it through the in-process objects
(:class:`~onemount.fakegraph.app.FakeGraph`), which are thread-safe, and reach it over real TCP
like any client, so connection drops, keep-alive and streaming are the real thing. Over TLS it
speaks HTTP/2 as well as HTTP/1.1, with :mod:`.hardening`'s guards, so that no request, however
it ends, stops it.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from onemount.fakegraph.app import FakeGraph
from onemount.fakegraph.drive import DriveOptions, FakeDrive
from onemount.fakegraph.faults import Faults
from onemount.fakegraph.hardening import install
from onemount.fakegraph.oauth import FakeAuthority
from onemount.fakegraph.sample import seed_sample


@dataclass(frozen=True)
class Tls:
    """A certificate and key to serve https (msal only talks to https authorities)."""

    cert: Path
    key: Path


TOKENS_FILE = "tokens.json"


def build(
    data_dir: Path,
    options: DriveOptions | None = None,
    *,
    seed: str = "empty",
    access_ttl: float = 3600.0,
    public_url: str | None = None,
) -> FakeGraph:
    """A fake over the drive in ``data_dir`` (created if new; seeded only when new), whose
    tokens are kept beside the drive in ``tokens.json``; ``public_url`` is the origin its
    links carry (by default the request's, or the forwarded one)."""
    if seed not in ("sample", "empty"):
        raise ValueError(f"unknown seed {seed!r}: sample or empty")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    drive = FakeDrive(data_dir, options)
    if seed == "sample" and drive.child_count(drive.root_id) == 0:
        seed_sample(drive)
    store = data_dir / TOKENS_FILE
    try:
        authority = FakeAuthority(access_ttl=access_ttl, store=store, public_url=public_url)
    except ValueError:
        drive.close()
        raise
    return FakeGraph(drive, authority, Faults(), public_url=public_url)


def _config(host: str, port: int, tls: Tls | None) -> Config:
    install()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.keep_alive_timeout = 75
    config.graceful_timeout = 1
    config.loglevel = "WARNING"  # no "Running on" banner in test output; the CLI prints its own
    if tls is not None:
        config.certfile, config.keyfile = str(tls.cert), str(tls.key)
    return config


async def serve_forever(
    fake: FakeGraph,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: Tls | None = None,
    started: Callable[[str], Awaitable[None] | None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; ``started(origin)`` is called once listening.

    The signals are caught before the server listens: whoever learns the origin from
    ``started`` may stop it at once, and gets a clean shutdown, not a killed process.
    """
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            config = _config(host, port, tls)
            binds = await nursery.start(
                partial(serve, fake.asgi(), config, shutdown_trigger=shutdown.wait)
            )
            if started is not None:
                result = started(binds[0])
                if result is not None:
                    await result
            async for _ in signals:
                shutdown.set()
                break


@contextlib.contextmanager
def serve_in_thread(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, tls: Tls | None = None
) -> Iterator[str]:
    """Serve the ASGI ``app`` (``FakeGraph.asgi()``, or a part of it such as the authority's
    routes alone) from a thread for the duration of the block; yields its origin."""
    started: queue.Queue[tuple[str, trio.lowlevel.TrioToken, trio.Event] | BaseException]
    started = queue.Queue()

    async def main() -> None:
        shutdown = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(
                    partial(serve, app, _config(host, port, tls), shutdown_trigger=shutdown.wait)
                )
                started.put((binds[0], trio.lowlevel.current_trio_token(), shutdown))
        except BaseException as exc:
            started.put(exc)
            raise

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True, name="fakegraph")
    thread.start()
    outcome = started.get(timeout=30)
    if isinstance(outcome, BaseException):
        raise RuntimeError("the fake Graph server did not start") from outcome
    origin, token, shutdown = outcome
    try:
        yield origin
    finally:
        trio.from_thread.run_sync(shutdown.set, trio_token=token)
        thread.join(timeout=30)
