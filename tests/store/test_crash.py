"""SIGKILL a real writer process at random moments; every reopen finds a sound database.

After each kill: the database opens (and migrates) cleanly, ``validate`` finds nothing (every
row satisfies its state's invariants, no broken chain, no duplicate name, no orphan intent),
the last journal entry of each live item names its current state, and every transaction the
child reported as committed is in the journal.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onemount.store import StateManager
from onemount.store.validate import validate

CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 50


def _check(db: Path, report: Path) -> int:
    manager = StateManager.open(db)
    conn = manager.conn
    try:
        assert validate(conn) == []
        disagreeing = list(
            conn.execute(
                """
                SELECT items.ino, items.state, j.to_state FROM items
                JOIN journal AS j ON j.seq = (
                    SELECT max(seq) FROM journal WHERE journal.ino = items.ino
                    AND journal.machine = 'item')
                WHERE j.to_state <> items.state
                """
            )
        )
        assert disagreeing == []
        unjournaled = conn.execute(
            "SELECT count(*) FROM items WHERE ino NOT IN (SELECT ino FROM journal)"
        ).fetchone()
        assert unjournaled == (0,)
        committed = {t for t in report.read_text().split("\n") if t}
        recorded = {d for (d,) in conn.execute("SELECT DISTINCT detail FROM journal") if d}
        assert committed <= recorded, sorted(committed - recorded)[:5]
        return len(committed)
    finally:
        manager.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_or_corrupts(tmp_path: Path) -> None:
    db, report = tmp_path / "metadata_v2.db", tmp_path / "committed.txt"
    report.touch()
    rng = random.Random(20261124)
    committed = 0
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(db), str(report)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.15))  # a random moment, not a timing assertion
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        committed = _check(db, report)
    assert committed > KILLS  # the child did commit work between the kills
