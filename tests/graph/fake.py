"""The fake Graph for tests: a real server on 127.0.0.1 in a thread, with its objects at hand.

``running_fake()`` builds a fresh drive in a temporary folder, serves it, and yields a
:class:`RunningFake`: the base URL a client uses, a token provider holding a token the fake
issued, and the in-process drive and fault list, which tests use to act as "another device",
to inject faults and to read the server's request log.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from onemount.fakegraph import DriveOptions, FakeDrive, FakeGraph, Faults, build, serve_in_thread
from onemount.graph import StaticToken


@dataclass(frozen=True)
class RunningFake:
    graph: FakeGraph
    origin: str  # http://127.0.0.1:<port>
    token: str

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1.0"

    @property
    def tokens(self) -> StaticToken:
        return StaticToken(self.token)

    @property
    def drive(self) -> FakeDrive:
        return self.graph.drive

    @property
    def faults(self) -> Faults:
        return self.graph.faults


@contextlib.contextmanager
def running_fake(
    options: DriveOptions | None = None, *, seed: str = "empty", data_dir: Path | None = None
) -> Iterator[RunningFake]:
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fakegraph-")))
        fake = build(data_dir, options, seed=seed, access_ttl=24 * 3600)
        stack.callback(fake.drive.close)
        origin = stack.enter_context(serve_in_thread(fake.asgi()))
        yield RunningFake(fake, origin, fake.authority.issue_static_token())
