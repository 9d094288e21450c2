"""SIGKILL a real writer at random moments; every reopen finds a sound database.

The child (crash_child.py) does what the engine does: delta pages through ``delta.ingest``,
local events, and job outcomes through ``start_job``/``finish_job``, each its own transaction,
and reports each commit after it returns. After each kill the parent reopens the file (which
migrates) and checks what a user and the engine rely on:

* every commit the child reported is there (its journal row, or the cursor it stored);
* every row satisfies its state's invariants (the spec's, on ``fields.abstract_fields``); no
  two live siblings share a name; no intent is left without its item; ``validate`` finds
  nothing else (parent chains, schema, integrity); each live item's last journal entry names
  its state;
* after ``recover_jobs`` (what start-up runs), no job is still marked UPLOADING and every
  DIRTY_LOCAL item has an upload or mkdir intent: nothing waits forever.

The next child carries on from that recovered file.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import apsw
import pytest

from onemount.store import StateManager
from onemount.store.validate import validate
from tests.store.soundness import unsound

CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 50


def _reported(report: Path) -> list[list[str]]:
    """The child's report, without a last line the kill cut short."""
    text = report.read_text()
    return [line.split() for line in text[: text.rfind("\n") + 1].splitlines()]


def _sound(conn: apsw.Connection) -> None:
    assert unsound(conn) == []
    assert validate(conn) == []
    disagreeing = conn.execute(
        """
        SELECT items.ino, items.state, j.to_state FROM items
        JOIN journal AS j ON j.seq = (
            SELECT max(seq) FROM journal WHERE journal.ino = items.ino AND machine = 'item')
        WHERE j.to_state <> items.state
        """
    ).fetchall()
    assert disagreeing == []


def _committed(conn: apsw.Connection, lines: list[list[str]]) -> None:
    details = {d for (d,) in conn.execute("SELECT DISTINCT detail FROM journal") if d}
    missing = [tag for kind, tag, *_ in lines if kind == "event" and tag not in details]
    assert missing == [], missing[:5]
    for _, intent, seq in (line for line in lines if line[0] == "start"):
        found = conn.execute(
            "SELECT machine, event, item_id FROM journal WHERE seq = ?", (int(seq),)
        ).fetchone()
        assert found is not None and found[:2] in (("upload", "start"), ("upload", "retry_due"))
        assert found[2].startswith(f"intent:{intent}:")
    pages = [tag for kind, tag, *_ in lines if kind == "page"]
    if pages:
        found = conn.execute("SELECT value FROM kv WHERE key = 'delta_cursor'").fetchone()
        assert found is not None and _order(str(found[0])) >= _order(pages[-1])


def _order(cursor: str) -> tuple[int, int]:
    run, serial = cursor.split(":")
    return int(run), int(serial)


def _recovered(manager: StateManager) -> None:
    manager.recover_jobs()
    conn = manager.conn
    assert conn.execute("SELECT id FROM intents WHERE job_state = 'UPLOADING'").fetchall() == []
    waiting = conn.execute(
        "SELECT ino FROM items WHERE state = 'DIRTY_LOCAL' AND NOT EXISTS (SELECT 1 FROM intents"
        " WHERE intents.ino = items.ino AND kind IN ('upload', 'mkdir'))"
    ).fetchall()
    assert waiting == []


def _check(db: Path, report: Path) -> list[list[str]]:
    manager = StateManager.open(db)
    try:
        lines = _reported(report)
        _sound(manager.conn)
        _committed(manager.conn, lines)
        _recovered(manager)
        _sound(manager.conn)
        return lines
    finally:
        manager.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_or_corrupts(tmp_path: Path) -> None:
    db, report = tmp_path / "metadata_v2.db", tmp_path / "committed.txt"
    report.touch()
    rng = random.Random(20261124)
    lines: list[list[str]] = []
    for run in range(1, KILLS + 1):
        with (tmp_path / f"child-{run}.err").open("w") as errors:
            child = subprocess.Popen(
                [sys.executable, str(CHILD), str(db), str(report), str(run)],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            time.sleep(rng.uniform(0.0, 0.15))  # a random moment, not a timing assertion
            child.send_signal(signal.SIGKILL)
            code = child.wait()
            child.stdout.close()
        crashed = (tmp_path / f"child-{run}.err").read_text()[-2000:]
        assert code == -signal.SIGKILL, f"the child ended by itself ({code}): {crashed}"
        lines = _check(db, report)
    kinds = Counter(line[0] for line in lines)
    # The child committed work of every kind between the kills.
    assert kinds["page"] > KILLS and kinds["event"] > KILLS and kinds["start"] > KILLS, kinds
