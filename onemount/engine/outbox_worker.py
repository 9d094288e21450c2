"""The outbox worker: uploads, mkdirs, moves and deletes, sent in the order the store allows.

The store's outbox (:func:`onemount.store.outbox.ready_jobs`) says which jobs may start now: due,
parents before children, one job per item at a time, a name freed before it is taken, and a
swap of names broken through a temporary name. This worker starts up to ``upload_workers`` of
them, each through the job machine (``start_job`` ... ``finish_job``, the job's outcome and the
item's event committed together). An upload, a move or a delete of an item changed less than
``upload_idle_delay`` seconds ago waits until it has been quiet that long, so an editor's burst
of writes, renames and deletes settles into the fewest requests (the delay is skipped while
draining for unmount).

**Uploads** send an immutable snapshot (:mod:`.snapshots`) recorded with ``start_job``: one PUT
up to the client's simple-upload limit, a resumable session above it, whose URL and confirmed
offset are kept in the intent (``job_progress``) so that a restart resumes where the server
stands. The reply's hash must be the snapshot's. A new name is created with
``conflictBehavior=fail`` and a known item replaced with its eTag as ``If-Match``:

* 409 on a new name: the occupant is fetched. Our own bytes (a create whose answer was lost) or,
  for a folder, a folder (two devices made the same folder: they merge) is our item. Anything
  else is ingested as a delta entry after the job ends ``conflicted``: the store's collision
  rule moves our item aside under a conflict name and it is uploaded again under that name.
* 412 on a replace: the current item is fetched. Our bytes: done. Unchanged content (a rename
  on the server changes the eTag too): its metadata is ingested and the job goes again. Changed
  content: ``conflicted`` with the server's version kept beside ours (CONFLICT, both kept).

**Failures.** Offline parks the job (``went_offline``) until the drive is reachable again (the
worker probes while it holds parked jobs); a throttle waits out its Retry-After; a server
error, a dropped connection that outlasted the client's retries, or a full disk retries with
exponential backoff up to the store's cap, and never gives up: after the job machine's last
counted attempt the job keeps waiting as if throttled. A permanent refusal (a name the server
rejects, 403, quota) ends the job and puts the item in ERROR with the reason, its bytes kept; a
refused delete puts the item back (``delete_rejected``).

A job whose intent went while it ran (``JobGone``: the user deleted the item, a conflict
superseded the upload) makes the server's answer news: a create whose item was deleted here is
deleted there, anything else is ingested like a delta entry.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from onemount import mutations
from onemount.engine.backoff import Backoff
from onemount.engine.convert import entry
from onemount.engine.hydrator import reachable
from onemount.engine.sink import report
from onemount.engine.snapshots import Taken, discard, take
from onemount.graph import (
    AuthRequired,
    DriveItem,
    FileTimes,
    GraphClient,
    GraphError,
    MalformedResponse,
    NameConflict,
    NewItem,
    NotFound,
    Offline,
    PreconditionFailed,
    Replace,
    ServerError,
    SessionRecord,
    Throttled,
)
from onemount.graph.core import Request
from onemount.graph.errors import ErrorInfo
from onemount.graph.items import parse_item
from onemount.graph.paths import child_path
from onemount.graph.upload import NO_TIMES
from onemount.statemachine import InvalidTransition
from onemount.store import Fired, JobGone, JobReport, Snapshot, StateManager
from onemount.store import queries as q
from onemount.store.delta import ingest
from onemount.store.events import (
    DeleteConfirmed,
    DeleteRejected,
    Failure,
    MoveSucceeded,
    Payload,
    RemoteDeletion,
    RemoteState,
    UploadConflicted,
    UploadFailed,
    UploadSucceeded,
)
from onemount.store.item_bindings import holds_mtime
from onemount.store.names import name_key
from onemount.store.outbox import Job, ready_jobs, temporary_name
from onemount.store.upload_bindings import MAX_ATTEMPTS

if TYPE_CHECKING:
    from onemount.engine.engine import Engine

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Never sleep longer than this without looking at the outbox again.
_LOOK_AGAIN = 30.0
#: How long a burst of local changes gathers before the outbox is looked at again (see
#: OutboxWorker._gather).
_GATHER = 0.05
#: The wait between attempts once the job machine's counted retries are spent.
_PATIENCE = Backoff(base=30.0, cap=600.0)
_BATCH = 200
#: Snapshots of files up to this size are taken on the trio thread (a copy of 64 KiB takes
#: microseconds; the hop to a worker thread and back takes longer).
_INLINE_SNAPSHOT = 64 * 1024
_PARKED = "SELECT id FROM intents WHERE job_state = 'PARKED'"
_NEXT_DUE = (
    "SELECT min(next_attempt) FROM intents"
    " WHERE job_state IN ('QUEUED', 'WAITING_RETRY') AND next_attempt > ?"
)
_SNAPSHOT_COLUMNS = (
    "SELECT snapshot_seq, snapshot_hash, snapshot_size, session_url, session_offset, attempts"
    " FROM intents WHERE id = ?"
)


class _Retry(Exception):
    """A failure worth another attempt later (the reply did not carry our bytes...)."""


class _Lost(Exception):
    """The item's bytes are not in the cache: nothing can be sent, ever."""


@dataclass
class _Flight:
    """One job being sent: what the worker knows about it beyond the Job record."""

    job: Job
    started: bool = False
    snapshot: Taken | None = None
    seq: int = 0


class _IntentSessions:
    """The uploader's :class:`~onemount.graph.SessionStore`, kept in the job's intent row.

    ``resume`` is the session recorded for exactly the snapshot being sent (None when the
    snapshot is new: a session opened for other bytes must never receive these).
    """

    def __init__(self, worker: OutboxWorker, intent: int, resume: SessionRecord | None) -> None:
        self._worker = worker
        self._intent = intent
        self._resume = resume

    async def load(self, key: str) -> SessionRecord | None:
        return self._resume

    async def save(self, key: str, record: SessionRecord) -> None:
        intent = self._intent
        await self._worker.store_write(
            lambda m: m.job_progress(intent, record.upload_url, record.offset)
        )

    async def clear(self, key: str) -> None:
        self._resume = None  # finish_job forgets the session with the job


class OutboxWorker:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._woken = trio.Event()
        self._settled = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._inflight: dict[int, int] = {}  # ino -> intent id
        self._sending: set[int] = set()
        self._creating: dict[tuple[int, str], int] = {}  # (parent ino, name key) -> ino
        self._buffer: list[Job] = []
        self._requery = True
        self._draining = 0  # drain() calls waiting: the idle delay does not apply
        #: Hashes of content this worker uploaded, per server id: a 412 caused by our own
        #: upload (a delete after an upload of the same file) is not somebody else's change.
        self._ours: dict[str, set[str]] = {}
        self.draw: Callable[[], float] = random.random
        self.completed = 0  # jobs finished (any outcome), for tests and status
        self._ended = trio.Event()
        self._began = trio.Event()

    # -- what the engine calls -------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._watch_connectivity)
            task_status.started()
            while True:
                await self._unpark()
                await self._engine.conflicts.settle()
                looked = self.completed
                wake_at = self._dispatch()
                woken = self._woken
                with trio.move_on_at(wake_at):
                    await woken.wait()
                self._woken = trio.Event()
                if not woken.is_set():
                    # A retry came due (or a job's quiet time passed): the buffer, kept
                    # between looks, does not hold a job that was not due when it was read.
                    self._requery = True
                elif self.completed == looked:
                    await self._gather()  # woken by a change, not by a worker set free

    async def _gather(self) -> None:
        """Let a burst of local changes gather for a moment before the next look.

        A look reads the outbox (the ready jobs, the next retry, the parked jobs), which grows
        with the burst: looking again after each of 10,000 files written by ``cp -r`` made
        writing them quadratic (minutes for 10,000 files; bench_engine_bytes). What a change
        queues waits for the idle delay anyway (a mkdir waits ``_GATHER`` at most), so the
        look is not later than the delay allows. A job ending (a worker is free), a drain and
        an idle delay of 0 do not wait.
        """
        delay = min(self._engine.config.upload_idle_delay, _GATHER)
        if delay <= 0 or self._draining:
            return
        with trio.move_on_after(delay):
            await self._ended.wait()

    def wake(self) -> None:
        """Something changed locally (or a job ended): look at the outbox again."""
        self._requery = True
        self._woken.set()

    async def drain(self) -> None:
        """Return when nothing is ready or in flight (the idle delay no longer applies)."""
        self._draining += 1
        try:
            # Conflicts the policy resolves now (their writers closed) become uploads to wait
            # for: settled here, not left to the loop, which may still be gathering a burst.
            await self._engine.conflicts.settle()
            self.wake()
            while True:
                settled = self._settled
                if self._is_settled():
                    return
                await settled.wait()
        finally:
            self._draining -= 1

    async def job_started(self) -> None:
        """Wait for the next job to start (``start_job`` recorded it)."""
        await self._began.wait()

    async def job_ended(self) -> None:
        """Wait for the next job to end, whatever its outcome (tests, status)."""
        await self._ended.wait()

    def busy(self) -> bool:
        """A job is in flight or ready to start."""
        return not self._is_settled()

    def sending(self) -> set[int]:
        """The intent ids being sent now (their snapshots are in use)."""
        return set(self._sending)

    async def store_write(self, fn: Callable[[StateManager], T]) -> T:
        """A small transaction on the trio thread (a job's start, progress, outcome)."""
        return await self._engine.store.write_inline(fn)

    # -- the loop --------------------------------------------------------------------------------

    def _is_settled(self) -> bool:
        if self._inflight:
            return False
        now = time.time()
        return not [j for j in ready_jobs(self._engine.store.reader, now, limit=1)]

    def _parked(self) -> list[int]:
        reader = self._engine.store.reader
        return [
            int(i) for (i,) in reader.execute("SELECT id FROM intents WHERE job_state = 'PARKED'")
        ]

    async def _unpark(self) -> None:
        """Back online: parked jobs go back to the queue."""
        engine = self._engine
        if not reachable(engine):
            return
        parked = self._parked()
        if not parked:
            return

        def back(m: StateManager) -> None:
            for intent in parked:
                try:
                    m.set_job_state(intent, JobReport("back_online"))
                except (JobGone, InvalidTransition):
                    continue

        await engine.store.write(back)
        self._requery = True

    async def _watch_connectivity(self) -> None:
        """Wake the loop whenever the link changes (the delta loop's prober brings it back)."""
        while True:
            await self._engine.connectivity.wait_for_change()
            self.wake()

    def _dispatch(self) -> float:
        """Start what may start; return the trio time to look again at the latest."""
        engine = self._engine
        now = trio.current_time()
        wake_at = now + _LOOK_AGAIN
        limit = max(1, engine.config.upload_workers) if reachable(engine) else 1
        if engine.client is None:
            self._settle_if_idle()
            return math.inf
        if self._requery or not self._buffer:
            self._buffer = ready_jobs(engine.store.reader, time.time(), limit=_BATCH)
            self._requery = False
        waiting: list[Job] = []
        for job in self._buffer:
            if job.ino in self._inflight:
                continue
            if len(self._inflight) >= limit or self._blocked(job):
                waiting.append(job)
                continue
            quiet_at = self._quiet_at(job)
            if quiet_at > now:
                wake_at = min(wake_at, quiet_at)
                waiting.append(job)
                continue
            self._start(job)
        self._buffer = waiting
        # The next retry coming due (a job due now but not started waits for a worker: the
        # end of a job wakes the loop, so it must not count here, or the loop would spin).
        wall = time.time()
        due = engine.store.reader.execute(_NEXT_DUE, (wall,)).fetchone()
        if due is not None and due[0] is not None:
            wake_at = min(wake_at, now + max(0.0, float(due[0]) - wall))
        self._settle_if_idle()
        return wake_at

    def _settle_if_idle(self) -> None:
        if self._is_settled():
            self._settled.set()
            self._settled = trio.Event()

    def _blocked(self, job: Job) -> bool:
        """A create whose name another create in flight is taking waits for it to finish."""
        if not job.creates or job.parent_ino is None:
            return False
        holder = self._creating.get((job.parent_ino, name_key(job.name)))
        return holder is not None and holder != job.ino

    def _quiet_at(self, job: Job) -> float:
        """When the job's item will have been quiet for the idle delay."""
        if self._draining or job.kind == "mkdir":
            return -math.inf
        last = self._engine.local.last_change(job.ino)
        return -math.inf if last is None else last + self._engine.config.upload_idle_delay

    def _start(self, job: Job) -> None:
        assert self._nursery is not None
        self._inflight[job.ino] = job.id
        self._sending.add(job.id)
        if job.creates and job.parent_ino is not None:
            self._creating[(job.parent_ino, name_key(job.name))] = job.ino
        self._nursery.start_soon(self._run_job, job)

    async def _run_job(self, job: Job) -> None:
        flight = _Flight(job)
        try:
            await self._send(flight)
        except (JobGone, InvalidTransition):
            pass  # the item or its job moved on while the failure was being recorded
        except Exception:
            log.exception("outbox: %s of inode %d could not be recorded", job.kind, job.ino)
        finally:
            self._inflight.pop(job.ino, None)
            self._sending.discard(job.id)
            for key, ino in list(self._creating.items()):
                if ino == job.ino:
                    del self._creating[key]
            if flight.snapshot is not None and not self._has_intent(job.id):
                discard(flight.snapshot.path)
            self.completed += 1
            self._ended.set()
            self._ended = trio.Event()
            # A finished upload frees no one else (a buffered job is checked when it starts);
            # a mkdir, a move or a delete may: children, or a name, wait for it.
            self._requery = self._requery or job.kind != "upload"
            self._woken.set()

    def _has_intent(self, intent: int) -> bool:
        reader = self._engine.store.reader
        return (
            reader.execute("SELECT 1 FROM intents WHERE id = ?", (intent,)).fetchone() is not None
        )

    # -- one job, whatever its kind --------------------------------------------------------------

    async def _send(self, flight: _Flight) -> None:
        job = flight.job
        kinds = {
            "upload": self._upload,
            "mkdir": self._mkdir,
            "move": self._move,
            "delete": self._delete,
        }
        try:
            await kinds[job.kind](flight)
        except JobGone:
            return  # the intent went meanwhile; what the server answered was handled as news
        except (Offline, AuthRequired) as exc:
            log.info("outbox: %s of inode %d parked: %s", job.kind, job.ino, exc)
            await self._job_event(flight, JobReport("went_offline"))
        except Throttled as exc:
            retry = exc.retry_after or _PATIENCE.delay(1, self.draw())
            await self._job_event(flight, JobReport("throttled", retry_after=retry))
        except (ServerError, MalformedResponse, _Retry, OSError) as exc:
            await self._retry_later(flight, f"{type(exc).__name__}: {exc}")
        except _Lost as exc:
            await self._refuse(flight, str(exc), "lost")
        except GraphError as exc:
            if exc.status == 423:  # locked by another user: it will be unlocked
                await self._retry_later(flight, str(exc))
            else:
                await self._refuse(flight, str(exc), type(exc).__name__)
        except Exception:
            log.exception("outbox: %s of inode %d failed unexpectedly", job.kind, job.ino)
            await self._retry_later(flight, "unexpected error (see the log)")

    async def _begin(self, flight: _Flight, snapshot: Snapshot | None = None) -> None:
        """``start_job``: the job is in flight from here (recover_jobs resumes it)."""
        intent = flight.job.id
        await self.store_write(lambda m: m.start_job(intent, snapshot))
        flight.started = True
        self._began.set()
        self._began = trio.Event()

    async def _job_event(self, flight: _Flight, report_: JobReport) -> None:
        if not flight.started:
            return  # nothing was recorded: the job is still queued as it was
        intent = flight.job.id
        try:
            await self.store_write(lambda m: m.set_job_state(intent, report_))
        except (JobGone, InvalidTransition):
            return

    async def _retry_later(self, flight: _Flight, reason: str) -> None:
        """A transient failure: the job machine's backoff, then patience that never ends."""
        job = flight.job
        log.warning("outbox: %s of inode %d will be retried: %s", job.kind, job.ino, reason)
        if not flight.started:
            await self._begin(flight)
        found = self._engine.store.reader.execute(
            "SELECT attempts FROM intents WHERE id = ?", (job.id,)
        ).fetchone()
        attempts = int(found[0]) if found else MAX_ATTEMPTS
        if attempts < MAX_ATTEMPTS:
            await self._job_event(flight, JobReport("transient_error", error=reason))
        else:
            delay = _PATIENCE.delay(attempts - MAX_ATTEMPTS + 1, self.draw())
            await self._job_event(flight, JobReport("throttled", retry_after=delay))

    async def _refuse(self, flight: _Flight, reason: str, kind: str) -> None:
        """A permanent refusal: the item says why; its bytes stay."""
        job = flight.job
        path = q.path_of(self._engine.store.reader, job.ino) or f"inode {job.ino}"
        log.error("outbox: the server refused the %s of %s: %s", job.kind, path, reason)
        if not flight.started:
            await self._begin(flight)
        failure = Failure(error=reason, error_kind=kind, temporary=False)
        payload: Payload | None
        if job.kind in ("upload", "mkdir"):
            payload = UploadFailed(failure=failure)
        elif job.kind == "delete":
            payload = DeleteRejected(failure=failure)
        else:
            payload = None  # a refused move: the item keeps its local name (logged above)
        await self._finish(flight, JobReport("permanent_error", error=reason), payload)

    async def _finish(
        self, flight: _Flight, report_: JobReport, payload: Payload | None, *, reply: Any = None
    ) -> Fired | None:
        """The job's outcome and the item's event together; JobGone makes ``reply`` news."""
        engine = self._engine
        job = flight.job
        await engine.local.settle(job.ino)  # a write during the upload must count
        try:
            _, fired = await self.store_write(lambda m: m.finish_job(job.id, report_, payload))
        except JobGone:
            await self._news(job, reply)
            raise
        if fired is not None:
            report(engine.sink, [fired])
        return fired

    async def _news(self, job: Job, reply: DriveItem | None) -> None:
        """The intent went while the request was out: what the server did is news."""
        engine = self._engine
        if reply is None:
            return
        row = q.get(engine.store.reader, job.ino)
        client = engine.client
        if row is None and job.creates and client is not None:
            # Created here, deleted here before the answer came: the user wants it gone.
            try:
                await client.delete(reply.id, if_match=reply.etag)
            except NotFound:
                pass
            except GraphError as exc:
                log.warning("outbox: could not remove %s, deleted here: %s", reply.name, exc)
                await self._ingest([remote_state(reply)])
            return
        if row is not None and row["state"] == "DELETED_LOCAL":
            return  # its delete is queued; a 412 there recognises our own bytes
        await self._ingest([remote_state(reply)])

    async def _ingest(self, entries: list[RemoteState | RemoteDeletion]) -> None:
        """Server items we learnt of out of band, applied as a delta page would be."""
        engine = self._engine

        def apply(m: StateManager) -> list[Fired]:
            return ingest(m, entries, cursor=None, writers=engine.files.writers()).fired

        fired = await engine.store.write(apply)
        report(engine.sink, fired)
        engine.content.remote_applied(fired)

    # -- uploads ---------------------------------------------------------------------------------

    async def _upload(self, flight: _Flight) -> None:
        engine = self._engine
        client = self._client()
        job = flight.job
        resume = await self._snapshot(flight)
        assert flight.snapshot is not None
        taken = flight.snapshot
        row = self._row(job.ino)
        if mutations.on("empty_file_not_uploaded") and not taken.size and not row["remote_id"]:
            return
        parent = self._parent_remote_id(row)
        target: NewItem | Replace
        if row["remote_id"] is None:
            target = NewItem(parent, str(row["name"]))
        else:
            target = Replace(str(row["remote_id"]), if_match=str(row["etag"] or row["ctag"]))
        times = file_times(row["mtime"]) or NO_TIMES
        record = None
        if resume is not None:
            record = SessionRecord(
                resume[0], target.describe(), taken.size, taken.mtime_ns, resume[1] or 0
            )
        sessions = _IntentSessions(self, job.id, record)
        try:
            reply = await self._sent_before(target, taken.hash) or await client.upload(
                taken.path, target, times=times, sessions=sessions, key=f"intent:{job.id}"
            )
        except NameConflict:
            await self._name_taken(flight, parent, str(row["name"]))
            return
        except PreconditionFailed:
            await self._changed_remotely(flight, row)
            return
        except NotFound:
            if isinstance(target, Replace):  # gone on the server: delta says so, as news
                await self._ingest([RemoteDeletion(id=target.item_id)])
            engine.delta.wake()
            raise _Retry("the target or its folder is not on the server") from None
        await self._uploaded(flight, reply)

    async def _sent_before(self, target: NewItem | Replace, hashed: str) -> DriveItem | None:
        """The server's item when it holds these very bytes, sent from here before.

        A write whose bytes were on disk before the store heard of it (the snapshot took them,
        the note came after) leaves the item dirty after its upload, and the next job would
        send the same bytes again (the SIGKILL test saw whole 3 MiB files sent twice). One
        GET, only for bytes this worker uploaded to this item, finds them there instead.
        """
        if not isinstance(target, Replace) or hashed not in self._ours.get(target.item_id, ()):
            return None
        current = await self._client().item(target.item_id)
        return current if current.quick_xor_hash == hashed else None

    async def _uploaded(self, flight: _Flight, reply: DriveItem) -> None:
        taken = flight.snapshot
        assert taken is not None
        if reply.quick_xor_hash is not None and reply.quick_xor_hash != taken.hash:
            raise _Retry(f"the server holds {reply.quick_xor_hash}, we sent {taken.hash}")
        self._ours.setdefault(reply.id, set()).add(taken.hash)
        await self._created(flight, reply)

    async def _created(self, flight: _Flight, reply: DriveItem) -> None:
        """An upload's or mkdir's reply: the row's mtime given to the server too, then done."""
        reply, sent_mtime = await self._keep_mtime(flight.job.ino, reply)
        payload = UploadSucceeded(
            remote=remote_state(reply), snapshot_seq=flight.seq, sent_mtime=sent_mtime
        )
        await self._finish(flight, JobReport("succeeded"), payload, reply=reply)

    async def _keep_mtime(self, ino: int, reply: DriveItem) -> tuple[DriveItem, float | None]:
        """The created item, with the row's mtime on the server too (one PATCH if needed).

        A simple PUT cannot carry ``fileSystemInfo``, so the server stamps the version with the
        time of the upload; its delta echo would then give the file that time here as well, and
        ``touch -d``, ``cp -p``, ``rsync -t`` or ``tar x`` would lose their mtime at the first
        sync. A session carries the time at creation, and then nothing is sent. The row's mtime
        is read now, after the upload: a ``utime`` while the bytes were on their way counts.
        A transient failure of the PATCH retries the job, which comes back here: its next
        attempt finds our bytes there (409, 412) or, once the echo gave the row the new eTag,
        sends them again (a file small enough for one PUT). A refusal, or an item changed or
        gone meanwhile (its news arrives by delta), keeps the upload's answer. A folder's mkdir
        comes here too: ``rsync`` and ``cp -a`` set a folder's time after filling it.

        Returns the reply and the mtime it now carries for the row (None: none was sent), which
        the spec compares with the row's (attributes_changed_since_sent): a ``utime`` after
        this read queues a move that carries it.
        """
        row = q.get(self._engine.store.reader, ino)
        if row is None or row["mtime"] is None or row["state"] == "DELETED_LOCAL":
            return reply, None
        wanted = float(row["mtime"])
        stamped = reply.fs_modified or reply.modified
        if stamped is not None and holds_mtime(stamped.timestamp(), wanted):
            return reply, wanted
        times = file_times(wanted)
        if times is None:
            return reply, None
        try:
            return await self._client().set_times(reply.id, times, if_match=reply.etag), wanted
        except (Offline, AuthRequired, Throttled, ServerError):
            raise
        except GraphError as exc:
            log.warning("outbox: the mtime of %s stays the server's: %s", reply.name, exc)
            return reply, None

    async def _snapshot(self, flight: _Flight) -> tuple[str, int | None] | None:
        """Take (or find again, for a resume) the job's snapshot and start the job with it.

        Returns the session to resume (url, offset) when the snapshot is the one a session
        was opened for.
        """
        engine = self._engine
        job = flight.job
        await engine.local.settle(job.ino)
        recorded = engine.store.reader.execute(_SNAPSHOT_COLUMNS, (job.id,)).fetchone()
        path = engine.cache.snapshot(job.id)
        if recorded is not None and recorded[1] is not None and recorded[3] is not None:
            seq, hashed, size, url, offset, _ = recorded
            try:
                stat = path.stat()
            except FileNotFoundError:
                stat = None
            if stat is not None and stat.st_size == size:
                flight.seq = int(seq)
                flight.snapshot = Taken(path, int(size), str(hashed), stat.st_mtime_ns)
                await self._begin(flight, Snapshot(flight.seq, flight.snapshot.hash, int(size)))
                return str(url), offset
        row = self._row(job.ino)  # read after settle(): its change sequence is current
        source = engine.cache.content(job.ino)
        if not source.exists():
            if int(row["size"]) != 0:
                raise _Lost(f"the bytes of inode {job.ino} are missing from the cache")
            found: Path | None = None
        else:
            found = source
        if int(row["size"]) <= _INLINE_SNAPSHOT:  # microseconds: a thread hop would cost more
            taken = take(found, path)
        else:
            taken = await trio.to_thread.run_sync(take, found, path)
        flight.seq, flight.snapshot = int(row["local_change_seq"]), taken
        snapshot = Snapshot(flight.seq, taken.hash, taken.size)
        await self._begin(flight, snapshot)  # other bytes: the store forgets an old session
        return None

    async def _name_taken(self, flight: _Flight, parent_id: str, name: str) -> None:
        """409 on a new name: our own create, a folder to merge with, or somebody else's."""
        job = flight.job
        occupant = await self._occupant(parent_id, name)
        if occupant is None:
            raise _Retry(f"{name!r} is taken but its occupant could not be read")
        if job.kind == "mkdir" and occupant.is_folder:
            # A folder of that name (in any case) is there: ours is one with it, under the
            # name and placement the server has (the spec's name_collided -> matches_arrival ->
            # adopt_remote_identity, which also ends this mkdir). Recording it as our create's
            # reply would make its other case a placement change and rename their folder.
            await self._ingest([remote_state(occupant)])
            return
        taken = flight.snapshot
        ours = taken is not None and occupant.is_file and occupant.quick_xor_hash == taken.hash
        if job.kind != "mkdir" and ours:  # our own upload, its reply lost
            await self._uploaded(flight, occupant)
            return
        await self._finish(flight, JobReport("conflicted"), UploadConflicted(remote=None))
        await self._ingest([remote_state(occupant)])  # ours moves aside; sent again later

    async def _changed_remotely(self, flight: _Flight, row: dict[str, Any]) -> None:
        """412 on a replace: our own bytes already there, or news about the item.

        The current item is ingested as delta would bring it: unchanged content (a rename
        there changes the eTag too) refreshes the eTag and the job goes again; changed content
        makes the item a CONFLICT with both versions kept, which ends this job (JobGone).
        """
        remote_id = str(row["remote_id"])
        try:
            current = await self._client().item(remote_id)
        except NotFound:
            await self._ingest([RemoteDeletion(id=remote_id)])
            raise _Retry("the item went from the server") from None
        taken = flight.snapshot
        if taken is not None and current.quick_xor_hash == taken.hash:
            await self._uploaded(flight, current)
            return
        await self._ingest([remote_state(current)])
        await self._finish(flight, JobReport("session_lost"), None)

    # -- mkdir, move, delete ---------------------------------------------------------------------

    async def _mkdir(self, flight: _Flight) -> None:
        client = self._client()
        job = flight.job
        flight.seq = int(self._row(job.ino)["local_change_seq"])
        await self._begin(flight)
        row = self._row(job.ino)
        parent = self._parent_remote_id(row)
        try:
            reply = await client.create_folder(parent, str(row["name"]))
        except NameConflict:
            await self._name_taken(flight, parent, str(row["name"]))
            return
        except NotFound:
            self._engine.delta.wake()
            raise _Retry("the parent folder is not on the server") from None
        await self._created(flight, reply)

    async def _move(self, flight: _Flight) -> None:
        client = self._client()
        job = flight.job
        await self._begin(flight)
        row = self._row(job.ino)
        parent = self._parent_remote_id(row)
        name = temporary_name(job) if job.via_temporary_name else str(row["name"])
        remote_id = str(row["remote_id"])
        times = file_times(row["mtime"])
        sent_mtime = None if times is None else float(row["mtime"])
        try:
            reply = await client.move(
                remote_id, name=name, parent_id=parent, times=times, if_match=_current_tag(row)
            )
        except PreconditionFailed:
            await self._refresh(remote_id)
            await self._finish(flight, JobReport("session_lost"), None)
            return
        except NameConflict:
            occupant = await self._occupant(parent, name)
            if occupant is not None:
                await self._ingest([remote_state(occupant)])  # ours moves aside, goes again
            await self._finish(flight, JobReport("session_lost"), None)
            return
        except NotFound:
            await self._refresh(remote_id)
            raise _Retry("the item or its new folder is not on the server") from None
        engine = self._engine

        def finish(m: StateManager) -> tuple[str, Fired | None]:
            # Moved or touched again while this one was out (or this was a swap's temporary
            # step): the spec queues the move again (attributes_changed_since_sent).
            moved = MoveSucceeded(remote=remote_state(reply), sent_mtime=sent_mtime)
            return m.finish_job(job.id, JobReport("succeeded"), moved)

        try:
            _, fired = await self.store_write(finish)
        except JobGone:
            await self._news(job, reply)
            return
        if fired is not None:
            report(engine.sink, [fired])

    async def _delete(self, flight: _Flight) -> None:
        client = self._client()
        job = flight.job
        await self._begin(flight)
        row = self._row(job.ino)
        remote_id = str(row["remote_id"])
        tag = row["etag"]
        for _ in range(2):
            try:
                await client.delete(remote_id, if_match=tag)
                break
            except NotFound:
                break
            except PreconditionFailed:
                try:
                    current = await client.item(remote_id)
                except NotFound:
                    break
                if current.quick_xor_hash in self._ours.get(remote_id, set()):
                    tag = current.etag  # changed by our own upload: still ours to delete
                    continue
                await self._ingest([remote_state(current)])  # changed there: that edit wins
                await self._finish(flight, JobReport("session_lost"), None)
                return
        await self._finish(flight, JobReport("succeeded"), DeleteConfirmed())

    # -- helpers ---------------------------------------------------------------------------------

    def _client(self) -> GraphClient:
        client = self._engine.client
        if client is None:
            raise Offline(ErrorInfo(None), "the mount is offline")
        return client

    def _row(self, ino: int) -> dict[str, Any]:
        row = q.get(self._engine.store.reader, ino)
        if row is None:
            raise JobGone(f"inode {ino} is gone")
        return row

    def _parent_remote_id(self, row: dict[str, Any]) -> str:
        parent = q.get(self._engine.store.reader, int(row["parent_ino"]))
        if parent is None or parent["remote_id"] is None:
            raise _Retry(f"the folder of inode {row['ino']} is not on the server yet")
        return str(parent["remote_id"])

    async def _occupant(self, parent_id: str, name: str) -> DriveItem | None:
        """The server's item called ``name`` in ``parent_id`` (None: there is none)."""
        client = self._client()
        url = child_path(client.config.drive, parent_id, name)
        try:
            return parse_item(await client.core.call_json(lambda: Request("GET", url)))
        except NotFound:
            return None

    async def _refresh(self, remote_id: str) -> None:
        """Learn the server's current version of an item (or that it is gone)."""
        try:
            current = await self._client().item(remote_id)
        except NotFound:
            await self._ingest([RemoteDeletion(id=remote_id)])
            return
        await self._ingest([remote_state(current)])


def _current_tag(row: dict[str, Any]) -> str | None:
    """The eTag of the server's current version of the item: in a conflict, the version kept
    beside ours (the row's own is the base both sides started from, which the server has
    moved past: an If-Match on it would be refused every time)."""
    kept = row["conflict_remote_etag"]
    return str(kept) if kept not in (None, "unknown") else row["etag"]


def file_times(mtime: float | None) -> FileTimes | None:
    """The ``fileSystemInfo`` for a row's mtime; None when there is none or Graph cannot
    write it (``touch -d`` takes years past 9999, which no ISO 8601 time holds)."""
    if mtime is None:
        return None
    try:
        return FileTimes(modified=datetime.fromtimestamp(float(mtime), UTC))
    except (OverflowError, OSError, ValueError):
        return None


def remote_state(item: DriveItem) -> RemoteState:
    """A reply (an upload's, a mkdir's, a move's, a fetched item) as the store records it."""
    found = entry(item)
    if not isinstance(found, RemoteState):
        raise MalformedResponse(
            ErrorInfo(None), f"the server answered with a deleted item {item.id}"
        )
    return found
