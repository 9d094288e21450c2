"""Conflicts: what the CLI lists, and the three ways to resolve one.

An item is in CONFLICT when our bytes and a different server version both exist (an upload
refused with 412, a remote change to a file with unsent local changes, a remote delete of one).
Both versions are kept until the user decides; nothing is lost by waiting. The file shows our
bytes; the server's version is recorded beside them (``conflict_remote_*``).

* ``keep="local"``: our bytes replace the server's version, deliberately (its eTag becomes the
  upload's ``If-Match``, so a third version arriving meanwhile is a new conflict, not a loss).
* ``keep="remote"``: our bytes are discarded; the file becomes the server's version (a ghost,
  downloaded on the next open). Refused while a process has it open for writing.
* ``keep="both"``: our bytes move to a new file beside it, ``<stem> (conflict copy
  YYYY-MM-DD HHMMSS)<ext>`` (the store names it), uploaded like any new file; the original name
  takes the server's version. Refused while a process has it open for writing.

By default a conflict does not wait for the user: :attr:`Conflicts.policy` is ``"both"``, which
the outbox worker applies (:meth:`Conflicts.settle`) as soon as the file is not open for
writing, so once the drive is quiet both trees hold both versions and nothing is pending. With
``policy = None`` conflicts stay until ``onemount conflicts resolve``. A conflict whose server
item was deleted keeps ours under the original name (there is no other version to keep).
"""

from __future__ import annotations

import builtins
import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from onemount import mutations
from onemount.engine.columns import ints
from onemount.engine.errors import EngineError
from onemount.engine.sink import report
from onemount.statemachine import InvalidTransition
from onemount.store import Fired, StateManager, UnknownItem
from onemount.store import queries as q
from onemount.store.events import ResolveKeepBoth, ResolveKeepLocal, ResolveKeepRemote

if TYPE_CHECKING:
    from onemount.engine.engine import Engine

Keep = Literal["local", "remote", "both"]
_IN_CONFLICT = "SELECT ino FROM items WHERE state = 'CONFLICT'"


class FileBusy(EngineError):
    """The file is open for writing: its bytes cannot be moved or discarded now."""

    errno = errno.EBUSY


class NotInConflict(EngineError):
    errno = errno.EINVAL


@dataclass(frozen=True)
class Conflict:
    """One item in CONFLICT: our version (the file's bytes) and the server's."""

    ino: int
    path: str
    local_size: int
    local_mtime: float | None
    remote_size: int | None
    remote_mtime: float | None
    remote_hash: str | None
    remote_gone: bool  # the server deleted it: keeping "remote" removes the file
    since: float


class Conflicts:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        #: How a conflict nobody resolves is resolved: keep both (default), or None (wait).
        self.policy: Keep | None = "both" if engine.config.conflict_policy == "both" else None

    async def settle(self) -> int:
        """Apply :attr:`policy` to every conflict whose file is not open for writing."""
        engine = self._engine
        if self.policy is None:
            return 0
        resolved = 0
        for ino in ints(engine.store.reader.execute(_IN_CONFLICT)):
            if engine.files.writing(ino):
                continue  # its release wakes the outbox, which settles it then
            try:
                keep = "remote" if mutations.on("remote_change_drops_dirty") else self.policy
                await self.resolve(ino, keep)
            except (EngineError, InvalidTransition, UnknownItem):
                continue  # it moved on meanwhile
            resolved += 1
        return resolved

    def list(self) -> list[Conflict]:
        reader = self._engine.store.reader
        return [
            Conflict(
                ino=int(row["ino"]),
                path=q.path_of(reader, int(row["ino"])) or str(row["name"]),
                local_size=int(row["size"]),
                local_mtime=row["mtime"],
                remote_size=row["conflict_remote_size"],
                remote_mtime=row["conflict_remote_mtime"],
                remote_hash=row["conflict_remote_hash"],
                remote_gone=row["remote_id"] is None,
                since=float(row["updated"]),
            )
            for row in q.in_state(reader, "CONFLICT")
        ]

    async def resolve(self, ino: int, keep: Keep) -> int | None:
        """Resolve ``ino``'s conflict; for ``"both"``, returns the conflict copy's inode."""
        engine = self._engine
        row = q.get(engine.store.reader, ino)
        if row is None:
            raise UnknownItem(f"no inode {ino}")
        if row["state"] != "CONFLICT":
            raise NotInConflict(f"inode {ino} is {row['state']}, not in conflict")
        if keep != "local" and engine.files.writing(ino):
            raise FileBusy(f"inode {ino} is open for writing; close it first")
        copy: int | None = None
        async with engine.store.locked() as m:
            if keep == "local":
                fired = [m.fire(ino, ResolveKeepLocal())]
            elif keep == "remote":
                fired = [m.fire(ino, ResolveKeepRemote(writers=False))]
            else:
                fired, copy = self._keep_both(m, ino)
        report(engine.sink, fired)
        if keep != "local":
            engine.content.drop(ino)
        engine.outbox.wake()
        return copy

    def _keep_both(self, m: StateManager, ino: int) -> tuple[builtins.list[Fired], int | None]:
        """Fork the copy and give it our bytes; a crash between the two loses neither."""
        content = self._engine.content
        with m.transaction():
            fired = m.apply(ino, ResolveKeepBoth(writers=False), None)
            if fired.target != "GHOST":  # never on the server: it simply goes up as it is
                return [fired], None
            (copy,) = ints(m.conn.execute("SELECT max(ino) FROM items"))  # the copy just forked
            content.stage_copy(copy, ino)
        content.unstage_copy(copy, ino)
        created = m.peek(copy)
        assert created is not None
        copied = Fired(
            int(copy),
            str(created["item_id"]),
            "ABSENT",
            "local_created",
            str(created["state"]),
            parent_after=created["parent_ino"],
            name_after=created["name"],
        )
        return [fired, copied], copy
