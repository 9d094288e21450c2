"""The victim of the crash test: fires random transitions and batches until it is killed.

Usage: ``python crash_child.py DB REPORT``. Every transaction carries a tag in the journal's
``detail``; the tag is appended to REPORT only after the commit returned, so every tag in REPORT
names a committed transaction that the database must still hold after a SIGKILL.
"""

from __future__ import annotations

import os
import random
import sys

from onemount.store import Event, InvalidPlacement, InvalidTransition, StateManager

EVENTS = (
    "hydrate_requested",
    "hydrate_succeeded",
    "hydrate_failed",
    "local_modified",
    "local_overwritten",
    "local_renamed",
    "local_deleted",
    "upload_succeeded",
    "remote_changed",
    "remote_deleted",
    "delete_confirmed",
    "evict",
    "retry_requested",
)


def main(db: str, report_path: str) -> None:
    rng = random.Random()
    manager = StateManager.open(db, worker=f"child-{os.getpid()}")
    if manager.conn.execute("SELECT count(*) FROM items WHERE ino = 1").fetchone() == (0,):
        manager.fire("root", "remote_appeared", root=True, kind="folder")
    report = open(report_path, "a", buffering=1)  # noqa: SIM115 (open until SIGKILL)
    print("ready", flush=True)
    serial = 0
    while True:
        serial += 1
        tag = f"{os.getpid()}-{serial}"
        folders = [
            i
            for (i,) in manager.conn.execute(
                "SELECT ino FROM items WHERE kind = 'folder' AND state <> 'DELETED_LOCAL'"
            )
        ]
        items = [i for (i,) in manager.conn.execute("SELECT ino FROM items WHERE ino <> 1")]
        context = {
            "parent": rng.choice(folders),
            "name": f"n{tag}",
            "kind": rng.choice(("file", "file", "folder")),
            "ctag": rng.choice(("c1", "c2")),
            "remote_id": f"r{tag}",
            "size": rng.randrange(100),
        }
        try:
            if rng.random() < 0.3 or not items:
                events = [
                    Event(f"r{tag}-{k}", "remote_appeared", {**context, "name": f"n{tag}-{k}"})
                    for k in range(rng.randrange(1, 40))
                ]
                events.append(Event(None, "local_created", context))
                manager.fire_batch(
                    (Event(e.item, e.event, e.context, tag) for e in events), delta_cursor=tag
                )
            else:
                manager.fire(rng.choice(items), rng.choice(EVENTS), detail=tag, **context)
        except (InvalidTransition, InvalidPlacement):
            continue
        report.write(tag + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
