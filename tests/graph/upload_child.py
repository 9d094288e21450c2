"""A process that uploads one file through a persisted session; the crash test kills it.

Run as ``python -m tests.graph.upload_child '<json>'`` with ``base_url``, ``token``,
``source``, ``parent``, ``name``, ``store`` (the JsonSessionStore file), ``fragment``. On success
it prints one JSON line: the item's id, size and quickXorHash, the session offset it found in
the store at start (``resumed_from``, null for a fresh start) and the fragment bytes it sent
(``sent``), counted by a thin wrapper around the real TCP transport.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import trio

from onemount.graph import (
    GraphClient,
    GraphConfig,
    JsonSessionStore,
    NewItem,
    RetryPolicy,
    StaticToken,
)

KEY = "crash-test-upload"


class CountingTransport(httpx.AsyncBaseTransport):
    """Real TCP, plus a count of the bytes sent in PUT bodies (the fragments)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.sent += len(request.content)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def upload(args: dict[str, object]) -> dict[str, object]:
    store = JsonSessionStore(Path(str(args["store"])))
    record = await store.load(KEY)
    transport = CountingTransport()
    config = GraphConfig(
        base_url=str(args["base_url"]),
        fragment_size=int(str(args["fragment"])),
        policy=RetryPolicy(max_attempts=8, max_total=600, backoff_base=0.05, backoff_cap=0.5),
    )
    async with GraphClient(StaticToken(str(args["token"])), config, transport=transport) as graph:
        target = NewItem(str(args["parent"]), str(args["name"]))
        item = await graph.upload(Path(str(args["source"])), target, sessions=store, key=KEY)
    return {
        "id": item.id,
        "size": item.size,
        "hash": item.quick_xor_hash,
        "resumed_from": record.offset if record else None,
        "sent": transport.sent,
    }


def main() -> None:
    result = trio.run(upload, json.loads(sys.argv[1]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
