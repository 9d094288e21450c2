"""Where an upload session is remembered, so an upload survives a restart of the process.

The uploader saves a :class:`SessionRecord` when it opens a session and after every fragment,
and clears it when the upload ends. The store is the caller's: the engine keeps the record in
its intents table; :class:`JsonSessionStore` is a file-backed one for tests and tools.

An upload URL is a bearer credential in all but name (anyone holding it can write the file), so
the JSON file is created 0600 and replaced atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import trio


@dataclass(frozen=True)
class SessionRecord:
    """An open upload session and what it is for.

    ``target`` and the source fingerprint (``size``, ``mtime_ns``) decide whether the session
    may be resumed: a session opened for other bytes or another destination is abandoned.
    ``offset`` is the last confirmed position, kept for display; resuming always asks the server.
    """

    upload_url: str
    target: str
    size: int
    mtime_ns: int
    offset: int = 0

    def fits(self, target: str, size: int, mtime_ns: int) -> bool:
        return (self.target, self.size, self.mtime_ns) == (target, size, mtime_ns)


class SessionStore(Protocol):
    async def load(self, key: str) -> SessionRecord | None: ...

    async def save(self, key: str, record: SessionRecord) -> None: ...

    async def clear(self, key: str) -> None: ...


class JsonSessionStore:
    """All records in one JSON object in ``path``, rewritten atomically (tmp, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = trio.Lock()  # read-modify-write of one file: one writer at a time

    async def load(self, key: str) -> SessionRecord | None:
        data = (await trio.to_thread.run_sync(self._read)).get(key)
        try:
            return SessionRecord(**data) if isinstance(data, dict) else None
        except TypeError:  # a record from another version of the shape: start afresh
            return None

    async def save(self, key: str, record: SessionRecord) -> None:
        async with self._lock:
            await trio.to_thread.run_sync(self._update, key, asdict(record))

    async def clear(self, key: str) -> None:
        async with self._lock:
            await trio.to_thread.run_sync(self._update, key, None)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _update(self, key: str, value: dict[str, Any] | None) -> None:
        data = self._read()
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps(data, sort_keys=True).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
