"""The victim of the crash test: a writer doing what the engine does, until it is killed.

Usage: ``python crash_child.py DB REPORT RUN``. It applies delta pages (``delta.ingest``: new
items, children before their parents, renames, content changes, deletes, ids never seen,
arrivals on a local item's name, repeats), local events (create, rename, write, delete,
hydration) and job outcomes (``start_job``, then ``finish_job`` with success or failure, the
server's answer kept in memory in between), each in its own transaction, so a SIGKILL lands
between any two of them or inside one.

After each commit returns it appends one line to REPORT, which the parent checks is in the
database after the kill:

* ``event TAG``: a local event or a job outcome, journaled with ``detail`` TAG;
* ``page TAG``: a delta page, stored with cursor TAG (``RUN:SERIAL``, increasing);
* ``start INTENT SEQ``: a job taken, its journal row SEQ.

A refusal the store is documented to give (a taken name, an undeclared event, a job gone) is
skipped; anything else ends the child, which the parent sees as an exit before its SIGKILL.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, replace

from onemount.statemachine import InvalidTransition
from onemount.store import (
    InvalidPlacement,
    JobGone,
    JobReport,
    NameTaken,
    NotEmpty,
    Snapshot,
    StateManager,
    UnknownItem,
    delta,
)
from onemount.store.events import (
    DeleteConfirmed,
    Failure,
    HydrateRequested,
    HydrateSucceeded,
    Kind,
    LocalCreated,
    LocalDeleted,
    LocalModified,
    LocalRenamed,
    MoveSucceeded,
    Payload,
    RemoteAppeared,
    RemoteDeletion,
    RemoteState,
    RetryRequested,
    UploadFailed,
    UploadSucceeded,
)
from onemount.store.item_bindings import UNHASHED, Row
from onemount.store.names import InvalidName
from onemount.store.outbox import ready_jobs
from onemount.store.schema import SELECT_ITEMS, as_row

ROOT = RemoteState(
    id="root-id",
    name="root",
    parent_id=None,
    kind="folder",
    etag="e-root",
    ctag=None,
    hash=None,
    size=0,
    mtime=1000.0,
)
NAMES = ("notes.txt", "Notes.TXT", "Caf\u00e9", "Cafe\u0301", "a", "b.md", "draft")
HASHES = ("h1", "h2", "h3")
KINDS: tuple[Kind, ...] = ("file", "file", "folder")
REFUSED = (
    InvalidTransition,
    NameTaken,
    InvalidPlacement,
    InvalidName,
    UnknownItem,
    JobGone,
    NotEmpty,
)


@dataclass(frozen=True)
class Flight:
    """A job this process took: the intent and what the server answered."""

    intent: int
    kind: str
    payload: Payload


class Child:
    def __init__(self, db: str, run: int) -> None:
        self.rng = random.Random()
        self.run = run
        self.store = StateManager.open(db, worker=f"child-{os.getpid()}")
        if self.store.conn.execute("SELECT 1 FROM items WHERE ino = 1").fetchone() is None:
            self.store.fire(None, RemoteAppeared(remote=ROOT))
        self.flights: list[Flight] = []
        self.serial = 0

    def rows(self, where: str = "1") -> list[Row]:
        return [as_row(r) for r in self.store.conn.execute(f"{SELECT_ITEMS} WHERE {where}")]

    def new_id(self) -> str:
        self.serial += 1
        return f"r{self.run}-{self.serial}"

    def step(self, tag: str) -> str | None:
        """One transaction; the report line for it, or None when nothing was committed."""
        roll = self.rng.random()
        if roll < 0.3:
            return self.page(tag)
        if roll < 0.65:
            return self.local(tag)
        if roll < 0.85 or not self.flights:
            return self.start()
        return self.finish(tag)

    # ---- delta ------------------------------------------------------------------------------

    def remote(self, item_id: str, name: str, parent: str | None, kind: Kind) -> RemoteState:
        folder = kind == "folder"
        return RemoteState(
            id=item_id,
            name=name,
            parent_id=parent,
            kind=kind,
            etag=f"e{self.rng.randrange(10**6)}",
            ctag=None if folder else self.rng.choice(("c1", "c2")),
            hash=None if folder else self.rng.choice(HASHES),
            size=0 if folder else 10,
            mtime=1000.0,
        )

    def page(self, tag: str) -> str:
        known = self.rows("remote_id IS NOT NULL AND ino <> 1")
        remote_of = {r["ino"]: r["remote_id"] for r in self.rows("remote_id IS NOT NULL")}
        folders = [
            str(r["remote_id"]) for r in self.rows("remote_id IS NOT NULL AND kind = 'folder'")
        ]
        entries: list[RemoteState | RemoteDeletion] = []
        for _ in range(self.rng.randrange(1, 12)):
            roll = self.rng.random()
            name = self.rng.choice(NAMES)
            if roll < 0.35 or not known:  # new, maybe under a folder of this page or unknown
                parent = self.rng.choice([*folders, f"unseen-{self.rng.randrange(3)}"])
                kind = self.rng.choice(KINDS)
                made = self.remote(self.new_id(), name, parent, kind)
                entries.append(made)
                if kind == "folder":
                    folders.append(made.id)
            elif roll < 0.6:  # renamed, moved or rewritten
                row = self.rng.choice(known)
                entries.append(
                    self.remote(str(row["remote_id"]), name, self.rng.choice(folders), row["kind"])
                )
            elif roll < 0.75:
                entries.append(RemoteDeletion(id=str(self.rng.choice(known)["remote_id"])))
            elif roll < 0.85:
                entries.append(RemoteDeletion(id=f"never-{self.rng.randrange(10**6)}"))
            else:  # another item (or our own create's echo) under a local item's name
                local = [r for r in self.rows("remote_id IS NULL") if r["parent_ino"] in remote_of]
                if local:
                    row = self.rng.choice(local)
                    echo = self.remote(
                        self.new_id(), str(row["name"]), remote_of[row["parent_ino"]], row["kind"]
                    )
                    if row["cached_hash"] not in (None, UNHASHED):
                        echo = replace(echo, hash=str(row["cached_hash"]))
                    entries.append(echo)
        if entries and self.rng.random() < 0.3:
            entries.append(self.rng.choice(entries))  # an id twice: the last occurrence wins
        self.rng.shuffle(entries)
        delta.ingest(self.store, entries, cursor=tag, writers=set())
        return f"page {tag}"

    # ---- local events -----------------------------------------------------------------------

    def local(self, tag: str) -> str:
        live = self.rows("state <> 'DELETED_LOCAL' AND ino <> 1")
        folders = [r["ino"] for r in self.rows("state <> 'DELETED_LOCAL' AND kind = 'folder'")]
        files = [r for r in live if r["kind"] == "file"]
        roll = self.rng.random()
        ino: int | None = None
        payload: Payload
        if roll < 0.3 or not live:
            payload = LocalCreated(
                parent=self.rng.choice(folders),
                name=self.rng.choice(NAMES),
                kind=self.rng.choice(KINDS),
                size=self.rng.randrange(100),
                mtime=2.0,
                mode=None,
            )
        elif roll < 0.45:
            ino = self.rng.choice(live)["ino"]
            payload = LocalRenamed(parent=self.rng.choice(folders), name=self.rng.choice(NAMES))
        elif roll < 0.7 and files:
            row = self.rng.choice(files)
            ino = row["ino"]
            if row["state"] in ("DIRTY_LOCAL", "CONFLICT") and self.rng.random() < 0.5:
                self.store.note_write(ino, size=self.rng.randrange(100), mtime=3.0)
                return ""  # no journal row to look for; the invariants still judge it
            hashed = self.rng.choice((None, *HASHES))
            payload = LocalModified(size=self.rng.randrange(100), mtime=3.0, cached_hash=hashed)
        elif roll < 0.85:
            ino = self.rng.choice(live)["ino"]
            payload = LocalDeleted()
        else:
            row = self.rng.choice(live)
            ino = row["ino"]
            payload = {
                "GHOST": HydrateRequested(),
                "HYDRATING": HydrateSucceeded(cached_hash=str(row["remote_hash"] or "h1")),
            }.get(str(row["state"]), RetryRequested())
        self.store.fire(ino, payload, detail=tag)
        return f"event {tag}"

    # ---- the outbox -------------------------------------------------------------------------

    def start(self) -> str | None:
        jobs = [j for j in ready_jobs(self.store.conn, 2e12) if not j.via_temporary_name]
        if not jobs:
            return None
        job = self.rng.choice(jobs)
        row = self.rows(f"ino = {job.ino}")[0]
        hashed = row["cached_hash"] if row["cached_hash"] not in (None, UNHASHED) else "h9"
        seq = int(row["local_change_seq"])
        snapshot = Snapshot(seq=seq, hash=str(hashed), size=10) if job.kind == "upload" else None
        self.store.start_job(job.id, snapshot)
        journaled = self.store.conn.execute("SELECT max(seq) FROM journal").fetchall()[0][0]
        kind: Kind = "folder" if job.item_kind == "folder" else "file"
        reply = self.remote(job.remote_id or self.new_id(), job.name, job.parent_remote_id, kind)
        payload: Payload
        if job.kind == "delete":
            payload = DeleteConfirmed()
        elif job.kind == "move":
            payload = MoveSucceeded(remote=reply, sent_mtime=None)
        else:
            reply = replace(reply, hash=None if snapshot is None else snapshot.hash)
            # As the engine does: the sequence the upload sent, or for a mkdir the folder's.
            payload = UploadSucceeded(remote=reply, snapshot_seq=seq, sent_mtime=None)
        self.flights.append(Flight(job.id, job.kind, payload))
        return f"start {job.id} {journaled}"

    def finish(self, tag: str) -> str:
        flight = self.flights.pop(self.rng.randrange(len(self.flights)))
        report, payload = JobReport("succeeded"), flight.payload
        if flight.kind == "upload" and self.rng.random() < 0.2:
            report = JobReport("permanent_error", error="refused for good")
            payload = UploadFailed(
                failure=Failure(error="refused for good", error_kind="test", temporary=False)
            )
        self.store.finish_job(flight.intent, report, payload, detail=tag)
        return f"event {tag}"


def main(db: str, report_path: str, run: int) -> None:
    child = Child(db, run)
    report = open(report_path, "a", buffering=1)  # noqa: SIM115 (open until SIGKILL)
    print("ready", flush=True)
    serial = 0
    while True:
        serial += 1
        try:
            line = child.step(f"{run}:{serial}")
        except REFUSED:
            continue
        if line:
            report.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
