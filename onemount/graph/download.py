"""Downloading an item's content to a file: resumable, verified, and all-or-nothing.

``GET /items/{id}/content`` answers 302 to a pre-authenticated URL; httpx follows it and drops
the Authorization header on the way if the URL is on another origin. The bytes go to a temporary
file beside the destination; a dropped connection resumes with ``Range: bytes=<received>-``
(each attempt goes through ``/content`` again, so an expired download URL is simply replaced),
and the file is renamed over the destination only once its QuickXorHash matches the one the
item advertised. A reader of the destination therefore never sees partial or wrong bytes.

Writing and hashing run in a worker thread, one chunk at a time, so a gigabyte never holds the
trio loop for more than a thread hand-off.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from onemount.graph.core import Core, Request
from onemount.graph.errors import NETWORK_ERRORS, ErrorInfo, HashMismatch, ServerError
from onemount.graph.retry import Attempt
from onemount.quickxorhash import QuickXorHash


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    quick_xor_hash: str


class _Sink:
    """The temporary file and the running hash of the bytes written to it so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.size = 0
        self.hasher = QuickXorHash()

    def write(self, chunks: list[bytes]) -> None:
        """Append ``chunks`` (one ``writev``, no joining copy) and hash them in one call.

        Hashing the batch joined costs one memory copy but releases and retakes the GIL once
        instead of once per ~64 KiB network chunk: with the receiving loop competing for the
        GIL, per-chunk hashing made this thread fall behind and throttled the whole download
        (bench_graph: 0.69 of a raw stream; joined: see docs/graph-client.md).
        """
        pending = [memoryview(c) for c in chunks if c]
        while pending:
            written = os.writev(self.fd, pending)
            while pending and written >= len(pending[0]):
                written -= len(pending.pop(0))
            if pending and written:
                pending[0] = pending[0][written:]
        batch = b"".join(chunks) if len(chunks) != 1 else chunks[0]
        self.hasher.update(batch)
        self.size += len(batch)

    def restart(self) -> None:
        """Forget everything written: the server sent the whole body instead of the range."""
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.size = 0
        self.hasher = QuickXorHash()

    def finish(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)

    def discard(self) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)


async def download(
    core: Core, url: str, dest: Path, *, expected_hash: str | None, chunk: int
) -> Downloaded:
    """Fetch ``url`` (an item's ``/content``) into ``dest``; see the module docstring.

    Raises :class:`HashMismatch` (nothing left at ``dest`` nor beside it) when the bytes do not
    match ``expected_hash``; ``None`` skips the check (Graph may not have computed it yet).
    """
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    sink = _Sink(tmp)
    try:
        await _Transfer(core, url, sink, chunk).run()
        actual = sink.hasher.b64digest()
        if expected_hash is not None and actual != expected_hash:
            raise HashMismatch(expected_hash, actual)
        await trio.to_thread.run_sync(sink.finish)
    except BaseException:
        sink.discard()
        raise
    os.replace(tmp, dest)
    return Downloaded(dest, sink.size, actual)


class _Transfer:
    """The retried fetch: each attempt asks for the bytes from where the sink stands."""

    def __init__(self, core: Core, url: str, sink: _Sink, chunk: int) -> None:
        self.core = core
        self.url = url
        self.sink = sink
        self.chunk = chunk
        self.total: int | None = None
        self.validator: str | None = None  # the first answer's ETag: the version we are reading

    async def run(self) -> None:
        await self.core.retry(self._attempt, progress=lambda: self.sink.size)

    async def _attempt(self, attempt: Attempt) -> None:
        offset = self.sink.size
        # identity: a compressed body would be stored compressed, and its ranges would count
        # compressed bytes, not the file's.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        async with self.core.stream(Request("GET", self.url, headers=headers), attempt) as response:
            self._align(response, offset)
            await self._receive(response)
        if self.total is not None and self.sink.size != self.total:
            raise ServerError(
                ErrorInfo(response.status_code),
                f"body ended at byte {self.sink.size} of {self.total}",
            )

    def _align(self, response: httpx.Response, offset: int) -> None:
        """Check the answer continues where the sink stands; start over when it cannot."""
        etag = response.headers.get("etag")
        if offset and etag and self.validator and etag != self.validator:
            # The content changed between attempts: bytes of two versions cannot be stitched.
            self.sink.restart()
            offset = 0
        self.validator = etag or self.validator
        if response.status_code == 206:
            start, self.total = _content_range(response)
            if start != offset:  # includes a changed item answering the old range: go again
                raise ServerError(ErrorInfo(206), f"range starts at {start}, need {offset}")
            return
        if offset:  # the server ignored Range and sent the whole body
            self.sink.restart()
        length = response.headers.get("content-length")
        self.total = int(length) if length and length.isdigit() else None

    async def _receive(self, response: httpx.Response) -> None:
        """Stream the body into the sink; the disk writes overlap the network reads.

        A writer task takes batches of about ``chunk`` bytes from a small channel and writes
        and hashes them in a worker thread while the next batch arrives. A dropped connection
        is not allowed to cancel it: what arrived before the drop is good, so it is written,
        and the next attempt resumes after it.
        """
        batches, pending = trio.open_memory_channel[list[bytes]](2)
        dropped: BaseException | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_all, pending)
            async with batches:
                batch: list[bytes] = []
                size = 0
                try:
                    async for data in response.aiter_raw():
                        batch.append(data)
                        size += len(data)
                        if size >= self.chunk:
                            await batches.send(batch)
                            batch, size = [], 0
                except NETWORK_ERRORS as exc:
                    dropped = exc
                await batches.send(batch)
        if dropped is not None:
            raise dropped

    async def _write_all(self, pending: trio.MemoryReceiveChannel[list[bytes]]) -> None:
        async with pending:
            async for batch in pending:
                await trio.to_thread.run_sync(self.sink.write, batch)


def _content_range(response: httpx.Response) -> tuple[int, int | None]:
    """(first byte, total) from ``Content-Range: bytes a-b/total`` (total may be ``*``)."""
    value = response.headers.get("content-range", "")
    unit, _, spec = value.partition(" ")
    span, _, total = spec.partition("/")
    first, _, _ = span.partition("-")
    if unit.strip().lower() != "bytes" or not first.isdigit():
        raise ServerError(ErrorInfo(206), f"unreadable Content-Range {value!r}")
    return int(first), int(total) if total.isdigit() else None
