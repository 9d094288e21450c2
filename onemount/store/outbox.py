"""Which outbox jobs may run now: due, and ordered by what they depend on, not by id.

"Due now, oldest first" replays wrongly as soon as backoff interleaves jobs: a child's upload
can run before its parent's mkdir (still waiting to retry), and an editor's swap through a
temporary name becomes two moves that each find the other's name taken. A job is **ready**
when its time has come and nothing it depends on is pending:

* **a parent before its child**: a create (an upload or mkdir of an item the server does not
  have) or a move waits until the folder it goes into exists on the server;
* **per item, one job at a time, in order**: nothing else of an item runs while one of its jobs
  is in flight; its move waits for its create, and a pending delete makes its move wait;
* **a name freed before it is taken**: a create or move waits while the server still has
  another item under that parent and case-folded name (that item's move or delete goes first).

Two moves that wait for each other's names (a swap, or a longer rotation) would wait forever:
the first of such a cycle is marked ``via_temporary_name``, and the worker moves it to a
temporary name first; the move stays pending, and the others follow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import apsw

_READY = """
SELECT * FROM (
    SELECT i.id, i.ino, i.kind AS job_kind, i.attempts, i.job_state, i.session_url,
           i.session_offset, it.item_id, it.remote_id, it.name, it.kind, it.etag, it.parent_ino,
           p.remote_id,
           (SELECT o.ino FROM items o
            WHERE (i.kind = 'move' OR it.remote_id IS NULL) AND o.ino <> it.ino
              AND o.remote_parent_ino = it.parent_ino AND o.remote_name_key = it.name_key
            LIMIT 1) AS blocker
    FROM intents i
    JOIN items it ON it.ino = i.ino
    LEFT JOIN items p ON p.ino = it.parent_ino
    WHERE i.job_state IN ('QUEUED', 'WAITING_RETRY') AND i.next_attempt <= ?1
      AND NOT EXISTS (SELECT 1 FROM intents u WHERE u.ino = i.ino AND u.job_state = 'UPLOADING')
      AND NOT (i.kind IN ('upload', 'mkdir', 'move') AND p.ino IS NOT NULL AND p.remote_id IS NULL)
      AND NOT (i.kind = 'move' AND (it.remote_id IS NULL OR EXISTS
               (SELECT 1 FROM intents d WHERE d.ino = i.ino AND d.kind = 'delete')))
    ORDER BY i.next_attempt, i.id
)
-- A create whose name is held waits (the holder's move or delete goes first); a move that
-- waits is kept, for the cycle check. The LIMIT counts only these rows: the walk of the index
-- stops once it has them, instead of reading four times the batch to filter it here.
WHERE blocker IS NULL OR job_kind = 'move'
LIMIT ?2
"""


@dataclass(frozen=True)
class Job:
    """A ready job with what its worker needs to send it."""

    id: int
    ino: int
    kind: str  # upload | mkdir | move | delete
    attempts: int
    job_state: str
    session_url: str | None
    session_offset: int | None
    item_id: str
    remote_id: str | None
    name: str
    item_kind: str
    etag: str | None  # the If-Match of an upload by id, a move, a delete
    parent_ino: int | None
    parent_remote_id: str | None
    via_temporary_name: bool = False

    @property
    def creates(self) -> bool:
        """An upload or mkdir of an item the server does not have: it carries name and parent."""
        return self.kind in ("upload", "mkdir") and self.remote_id is None


def ready_jobs(conn: apsw.Connection, now: float, *, limit: int = 100) -> list[Job]:
    """The jobs that may start now, in the order they became due."""
    ready: list[Job] = []
    blocked: dict[int, tuple[Job, int]] = {}  # ino -> (its move, the ino holding its name)
    for row in conn.execute(_READY, (now, limit)):
        *fields, blocker = row
        job = Job(*fields)
        if blocker is None:
            ready.append(job)
        elif job.kind == "move":
            blocked[job.ino] = (job, int(blocker))
    ready.extend(_cycle_breakers(blocked))
    ready.sort(key=lambda j: j.id)
    return ready[:limit]


def _cycle_breakers(blocked: dict[int, tuple[Job, int]]) -> list[Job]:
    """One move of each cycle of moves that wait for each other's names, via a temporary name."""
    breakers: list[Job] = []
    settled: set[int] = set()
    for start in sorted(blocked):
        path: list[int] = []
        ino = start
        while ino in blocked and ino not in settled and ino not in path:
            path.append(ino)
            ino = blocked[ino][1]
        settled.update(path)
        if ino in path:  # the walk came back: a cycle from ``ino``
            cycle = path[path.index(ino) :]
            job = blocked[min(cycle)][0]
            breakers.append(replace(job, via_temporary_name=True))
    return breakers


def temporary_name(job: Job) -> str:
    """A name no user picks, unique per item, that OneDrive accepts."""
    return f".onemount-swap-{job.ino}-{job.name}"[:255]
