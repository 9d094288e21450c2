"""The upload job machine's guards and effects, on an ``intents`` row (``bindings`` in
spec/upload.meta.yaml). The job's state is the intent's ``job_state`` column."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onemount.store.manager import JobReport

Row = dict[str, Any]

MAX_ATTEMPTS = 5
_BACKOFF_BASE_S = 2.0
_BACKOFF_CAP_S = 600.0


@dataclass
class JobContext:
    """The intent row being edited, the job event's report and the clock."""

    row: Row
    report: JobReport
    now: float


def has_session(ctx: JobContext) -> bool:
    """A session is recorded, or the event reports the one it just created (first fragment)."""
    return ctx.row["session_url"] is not None or ctx.report.session_url is not None


def retries_left(ctx: JobContext) -> bool:
    return int(ctx.row["attempts"]) < MAX_ATTEMPTS


def record_attempt(ctx: JobContext) -> None:
    ctx.row["attempts"] += 1


def record_progress(ctx: JobContext) -> None:
    if ctx.report.session_url is not None:
        ctx.row["session_url"] = ctx.report.session_url
    if ctx.report.offset is not None:
        ctx.row["session_offset"] = ctx.report.offset


def record_error(ctx: JobContext) -> None:
    ctx.row["last_error"] = ctx.report.error or "unknown error"


def schedule_retry(ctx: JobContext) -> None:
    """Retry-After when the server gave one, else full-jitter exponential backoff."""
    delay = ctx.report.retry_after
    if delay is None:
        ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** int(ctx.row["attempts"]))
        delay = random.uniform(0, ceiling)
    ctx.row["next_attempt"] = ctx.now + float(delay)


def forget_session(ctx: JobContext) -> None:
    ctx.row["session_url"] = None
    ctx.row["session_offset"] = None


GUARDS: Mapping[str, Callable[[JobContext], bool]] = {
    "has_session": has_session,
    "retries_left": retries_left,
}
EFFECTS: Mapping[str, Callable[[JobContext], None]] = {
    "record_attempt": record_attempt,
    "record_progress": record_progress,
    "record_error": record_error,
    "schedule_retry": schedule_retry,
    "forget_session": forget_session,
}
