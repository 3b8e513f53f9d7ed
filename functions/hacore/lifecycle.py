"""The session lifecycle as one table: every state a recording can be in that is not an end, its
deadline, and what happens at it. Pure functions over the record; `docs/lifecycle.md` is the
same table in words, and `tests/unit/test_lifecycle_property.py` drives random interleavings
through it.

A recording is over for the customer when its one terminal event (`ready` or `failed`) is
decided *and* queued. Until then it has a deadline: STARTING and RECORDING in the watch
indexes (heartbeat and chunk clocks), every other state in the `ClaimsByExpiry` index (the
item's `claimExpiresAt` is the deadline, whatever it is for), so the detector's sweep finds
it without scanning. `TABLE` below lists each state, its deadline and what happens at it.

Every deadline is computed from the record alone (`deadline`), and `settle` arms the ones a
change starts: it runs on every write the store makes, so no path can end a session without
giving it a way out.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from hacore.models import SessionRecord, Status
from hacore.settings import Settings

OUTBOX_GRACE_S = 30.0  # the decider queues at once; the sweep sends what it did not, after this
ENDED = frozenset({Status.STOPPING, Status.COMPLETED, Status.FAILED, Status.INACTIVE})


class Due(StrEnum):
    """What a session's deadline is for."""

    CLAIM = "claim"  # FAILING_OVER: the backup did not heartbeat in time
    HANDOVER = "handover"  # a handover's recorder did not store its first chunk in time
    ROTATE = "rotate"  # the recorder reached APP_MAX_RECORDER_AGE: it is handed over
    SHADOW = "shadow"  # redundant recording: a shadow to start, or a silent one to give up
    HOLD = "hold"  # a `failed` held for a final report
    OUTBOX = "outbox"  # a terminal decided and not yet queued
    TERMINAL = "terminal"  # ended, and nobody said how: OpenVidu's terminal never came


def due_for(record: SessionRecord) -> Due | None:
    """Which deadline the record has now (at most one applies at a time)."""
    if record.terminal is not None:
        return Due.OUTBOX if not record.terminal.sent and record.terminal.body is not None else None
    if record.heldWebhook is not None:
        return Due.HOLD
    if record.status is Status.FAILING_OVER:
        return Due.CLAIM
    if record.handover is not None and record.status is Status.RECORDING:
        return Due.HANDOVER
    if record.shadowDueAt is not None and record.status.watched:
        return Due.SHADOW
    if record.rotateAt is not None and record.status is Status.RECORDING:
        return Due.ROTATE
    if record.status in ENDED:
        return Due.TERMINAL
    return None


def deadline(record: SessionRecord) -> float | None:
    """When the sweep must look at this record again (None: the watch indexes, or nothing, do)."""
    due = due_for(record)
    if due is Due.OUTBOX:
        return record.terminal.dueAt if record.terminal is not None else None
    if due is Due.TERMINAL:
        return record.terminalDueAt
    if due in (Due.HOLD, Due.CLAIM, Due.HANDOVER):
        return record.claimExpiresAt
    if due is Due.ROTATE:
        return record.rotateAt
    if due is Due.SHADOW:
        return record.shadowDueAt
    return None


def shadow_due(record: SessionRecord, settings: Settings) -> float | None:
    """Redundant recording's deadline: a live session without a shadow gets one at once (a launch
    just abandoned: a backup start timeout later); a shadow is given up once silent for the
    heartbeat timeout (or never heard by the backup start timeout)."""
    if not record.redundant or not record.status.watched or record.handover is not None:
        return None
    shadow = record.shadow
    if shadow is None:
        last = next((f for f in reversed(record.failovers) if f.reason == "shadow"), None)
        retry = last.at + settings.backup_start_deadline_s if last and last.outcome == "abandoned" else 0.0
        return max(record.createdAt, retry)
    if shadow.heardAt is None:
        return shadow.at + settings.backup_start_deadline_s
    return shadow.heardAt + settings.heartbeat_timeout_s


def rotation_due(record: SessionRecord, settings: Settings) -> float | None:
    """When the owner reaches APP_MAX_RECORDER_AGE (from its first beat as owner, or the session's
    start); a rotation just abandoned is tried again two backup start timeouts later, not at once."""
    age = settings.max_recorder_age
    if age is None or record.status is not Status.RECORDING or record.handover is not None:
        return None
    owner = next((f for f in reversed(record.failovers) if f.epoch == record.epoch and f.runningAt), None)
    due = (owner.runningAt if owner is not None and owner.runningAt else record.createdAt) + age
    last = record.failovers[-1] if record.failovers else None
    if last is not None and last.outcome == "abandoned":
        due = max(due, last.at + 2 * settings.backup_start_deadline_s)
    return due


def settle(record: SessionRecord, now: float, settings: Settings) -> SessionRecord:
    """Arms the deadline a change has just started; the store applies it to every write."""
    update: dict[str, Any] = {}
    due = due_for(record)
    if due is Due.OUTBOX and record.terminal is not None and record.terminal.dueAt is None:
        update["terminal"] = record.terminal.model_copy(update={"dueAt": now + OUTBOX_GRACE_S})
    if due is Due.TERMINAL and record.terminalDueAt is None:
        update["terminalDueAt"] = now + settings.terminal_timeout_s
    if due is not Due.TERMINAL and record.terminalDueAt is not None:
        update["terminalDueAt"] = None
    rotate_at = rotation_due(record, settings)
    if rotate_at != record.rotateAt:
        update["rotateAt"] = rotate_at
    shadow_at = shadow_due(record, settings)
    if shadow_at != record.shadowDueAt:
        update["shadowDueAt"] = shadow_at
    return record.model_copy(update=update) if update else record


def overdue(record: SessionRecord, now: float) -> Due | None:
    """The deadline that has passed, if one has."""
    when = deadline(record)
    return due_for(record) if when is not None and now >= when else None


# Each state that is not an end: (the state, its deadline, what happens at it). docs/lifecycle.md
# shows it as `as_markdown()` renders it (a test keeps the two the same).
TABLE: tuple[tuple[str, str, str], ...] = (
    (
        "STARTING, RECORDING: recorder silent",
        "APP_FAILOVER_HEARTBEAT_TIMEOUT, and no chunk of its epoch in S3 for APP_FAILOVER_S3_QUIET_AFTER",
        "takeover: FAILING_OVER, next epoch, a backup from the next chunk",
    ),
    (
        "STARTING, RECORDING: silent, S3 shows chunks (`unheard`)",
        "S3 quiet for APP_FAILOVER_S3_QUIET_AFTER",
        "nothing while chunks arrive; then a takeover",
    ),
    (
        "STARTING, RECORDING: heard, chunks stuck",
        "APP_FAILOVER_STUCK_CHUNK_TIMEOUT (the first chunk: APP_FAILOVER_START_GRACE)",
        "takeover",
    ),
    (
        "FAILING_OVER",
        "APP_FAILOVER_BACKUP_START_TIMEOUT (+ APP_PROCESS_LAUNCH_DELAY)",
        "claimed again; after APP_FAILOVER_MAX_ATTEMPTS: FAILED, running backups asked to stop",
    ),
    (
        "RECORDING, handing over (make-before-break)",
        "APP_FAILOVER_BACKUP_START_TIMEOUT for the new recorder's first chunk",
        "abandoned: the new recorder is stopped, the owner records on (nothing was fenced)",
    ),
    (
        "RECORDING, APP_MAX_RECORDER_AGE set",
        "the recorder's age reaches it (from its first beat as the owner)",
        "handed over, make-before-break (reason `rotation`)",
    ),
    (
        "STARTING, RECORDING, redundant (a register's `redundant`, APP_REDUNDANT_RECORDING)",
        "at once without a shadow; a shadow silent for APP_FAILOVER_HEARTBEAT_TIMEOUT",
        "a shadow recorder started; a silent one stopped, and another started",
    ),
    (
        "ended (STOPPING, COMPLETED, FAILED, INACTIVE), no terminal decided or held",
        "APP_TERMINAL_TIMEOUT",
        "our `ready` if a playable file was reported; chunks stored: a finalizer and our `failed` held; "
        "else our `failed`",
    ),
    (
        "a `failed` held (OpenVidu's, or ours) for a final report",
        "APP_FINALIZE_TIMEOUT",
        "released: `failed`; a playable report before it: our `ready` instead",
    ),
    (
        "a terminal of ours decided, not yet queued (the outbox)",
        f"{OUTBOX_GRACE_S:g} s after the decision",
        "queued by the sweep (same webhook id: the FIFO queue drops a repeat), then marked sent",
    ),
    (
        "PAUSED",
        "HA_SESSION_MAX_INACTIVE_TIME after its last write (the live sessions' TTL)",
        "expires with the record; OpenVidu's own events end it before",
    ),
)


def as_markdown() -> str:
    """The table as docs/lifecycle.md shows it."""
    lines = ["| state | deadline | at the deadline |", "|---|---|---|"]
    lines += [f"| {state} | {deadline} | {action} |" for state, deadline, action in TABLE]
    return "\n".join(lines)
