"""When a session needs a takeover, and what claiming it writes. Pure functions of the record, the
time and the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hacore.errors import DomainError
from hacore.models import FailoverEvent, SessionRecord, Status
from hacore.sessions.rules import highest_epoch, mark_last_failover, move, owned_by, set_aside
from hacore.settings import Settings

HEARTBEAT_TIMEOUT = "heartbeat-timeout"
STUCK_CHUNK = "stuck-chunk"
NO_FIRST_CHUNK = "no-first-chunk"
BACKUP_START_TIMEOUT = "backup-start-timeout"
LAUNCH_FAILED = "launch-failed"
BACKUP_EXITED = "backup-exited"
RECORDER_EXITED = "recorder-exited"  # a media node's watcher saw the container die
MANUAL = "manual"
# A recorder that exits with these has nothing left to do: it finished (0), or a newer epoch
# fenced it off (3). Anything else, or a kill, while it owns a live session is a failure.
CLEAN_EXIT_CODES = frozenset({0, 3})


def stale_reason(record: SessionRecord, now: float, settings: Settings) -> str | None:
    """Why this session needs a new recorder now, or None.

    A silent recorder: no heartbeat for the heartbeat timeout. A hung one: heartbeats
    still arrive but the newest stored chunk has not changed for the stuck timeout,
    measured from when the chunk last changed (the original measured from the last
    heartbeat, so a hung ffmpeg in a live container was never noticed). A STARTING
    session has a grace period for its first chunk. A FAILING_OVER session is claimed
    again once its claim lapses: the backup did not heartbeat in time, or did not launch.
    """
    if not record.active:
        return None
    if record.status in (Status.STARTING, Status.RECORDING):
        if now - record.lastHeartbeatAt > settings.heartbeat_timeout_s:
            return HEARTBEAT_TIMEOUT
        if record.lastChunkIndex is None:
            waited = now - record.lastChunkChangedAt
            return (
                NO_FIRST_CHUNK
                if waited > max(settings.start_grace_s, settings.stuck_chunk_timeout_s)
                else None
            )
        if now - record.lastChunkChangedAt > settings.stuck_chunk_timeout_s:
            return STUCK_CHUNK
        return None
    if (
        record.status is Status.FAILING_OVER
        and record.claimExpiresAt is not None
        and now >= record.claimExpiresAt
    ):
        last = record.failovers[-1] if record.failovers else None
        return LAUNCH_FAILED if last is not None and last.outcome == "launch-failed" else BACKUP_START_TIMEOUT
    return None


def next_chunk(last_chunk_index: int | None, newest_stored_index: int | None) -> int:
    """Where a backup starts: after the newest chunk anyone reported or stored, whichever is later."""
    known = [i for i in (last_chunk_index, newest_stored_index) if i is not None]
    return max(known) + 1 if known else 0


def chunk_label(index: int) -> str:
    """START_CHUNK as the original wrote it: four digits (more once a recording passes 9999 chunks)."""
    return f"{index:04d}"


@dataclass(frozen=True)
class RecorderStopped:
    """The platform saw a recorder's process or task stop (ECS "Task State Change", STOPPED)."""

    ref: str  # the launcher's reference: the ECS task ARN, the local process ref
    session_id: str | None  # its VIDEO_ID (a standby's own id until it takes a session)
    exit_code: int | None  # None: killed before it could exit, or unknown
    on_purpose: bool  # stopped by StopTask (the controller, an operator): not a failure
    # The recorder's epoch, where the reporter knows it (a media node's watcher reads its EPOCH):
    # OpenVidu's own recorder has no launcher reference of ours, its epoch says it owns the session.
    epoch: int | None = None

    @property
    def reason(self) -> str:
        return RECORDER_EXITED if self.epoch is not None else BACKUP_EXITED


def exit_needs_takeover(record: SessionRecord, stopped: RecorderStopped) -> bool:
    """The recorder that owns this live session died: take over now, not after the heartbeat timeout.
    It owns it when it is the backup the session names, or when its epoch is the session's. A
    recorder that no longer owns it (an older epoch), a clean exit or a stop on purpose: nothing."""
    owner = record.launcherRef == stopped.ref or (stopped.epoch is not None and stopped.epoch == record.epoch)
    return (
        not stopped.on_purpose
        and stopped.exit_code not in CLEAN_EXIT_CODES
        and owner
        and record.status in (Status.STARTING, Status.RECORDING, Status.FAILING_OVER)
    )


TAKEOVER_STATUSES = (Status.STARTING, Status.RECORDING, Status.FAILING_OVER)


class NotTakeable(DomainError):
    """A takeover asked of a session that is not live (or that changed meanwhile)."""

    status_code = 409


@dataclass(frozen=True)
class Claim:
    """What a claim decided: the new epoch (or, out of attempts, the given-up one), where the
    backup starts, why, and since when the recorder was silent (the launch's figure). `promoted`:
    no backup to launch, the shadow recorder owns the session now."""

    reason: str
    start: str
    epoch: int
    gave_up: bool
    silent_since: float
    promoted: bool = False


def shadow_alive(record: SessionRecord, now: float, settings: Settings) -> bool:
    shadow = record.shadow
    return (
        shadow is not None
        and shadow.heardAt is not None
        and now - shadow.heardAt <= settings.heartbeat_timeout_s
    )


def promote(record: SessionRecord, now: float, reason: str) -> SessionRecord:
    """Redundant recording: the owner is lost, its shadow (recording since the start) owns the
    session at once. Nothing to launch, nothing lost; the caller fences the old epoch."""
    if record.shadow is None:
        raise ValueError("only a shadow can be promoted")
    event = record.shadow.model_copy(
        update={
            "at": now,
            "reason": reason,
            "outcome": "running",
            "runningAt": now,
            "detail": "the shadow, promoted",
        }
    )
    return owned_by(record, event, now, status=Status.RECORDING, shadow=None, claimedAt=now)


def claim(
    record: SessionRecord,
    now: float,
    settings: Settings,
    newest_stored: Callable[[], int | None],
    forced_reason: str | None = None,
) -> tuple[SessionRecord, Claim | None]:
    """The claim's write: FAILING_OVER at the next epoch with a new failover event, or FAILED
    once the attempts are spent. (record, None): nothing to claim (healthy again, or claimed by
    another detector first). `forced_reason`: a takeover on demand, whatever the heartbeat says.
    `newest_stored` reads the newest chunk in S3: called only once there is something to claim."""
    if forced_reason is not None and record.status not in TAKEOVER_STATUSES:
        raise NotTakeable(
            f"Session {record.sessionId} is {record.status.value}: only a live one can be taken over"
        )
    reason = forced_reason or stale_reason(record, now, settings)
    if reason is None:
        return record, None
    if shadow_alive(record, now, settings) and record.shadow is not None:
        promoted = promote(record, now, reason)
        return promoted, Claim(
            reason, record.shadow.startChunk, promoted.epoch, False, record.lastHeartbeatAt, True
        )
    start = chunk_label(next_chunk(record.lastChunkIndex, newest_stored()))  # S3 read only for a claim
    history = record.failovers
    if record.status is Status.FAILING_OVER and history and history[-1].outcome in ("claimed", "launched"):
        history = mark_last_failover(history, "start-timeout")  # its backup never heartbeated
    if record.failoverAttempts >= settings.max_failover_attempts:
        gave_up = FailoverEvent(
            epoch=record.epoch,
            at=now,
            reason=reason,
            startChunk=start,
            outcome="gave-up",
            detail=f"{record.failoverAttempts} takeover attempts made",
        )
        changed = record.model_copy(
            update={
                "status": move(record.status, Status.FAILED),
                "claimExpiresAt": None,
                "failovers": [*history, gave_up],
            }
        )
        return changed, Claim(reason, start, record.epoch, True, record.lastHeartbeatAt)
    epoch = highest_epoch(record) + 1
    # a handover under way, or a shadow too silent to promote, is set aside: the new epoch is above both
    history = set_aside(record.model_copy(update={"failovers": history}), epoch)
    changed = record.model_copy(
        update={
            "status": move(record.status, Status.FAILING_OVER),
            "epoch": epoch,
            "claimedAt": now,
            "claimExpiresAt": now + settings.backup_start_deadline_s,
            "failoverAttempts": record.failoverAttempts + 1,
            "failovers": [*history, FailoverEvent(epoch=epoch, at=now, reason=reason, startChunk=start)],
            "handover": None,
            "shadow": None,
        }
    )
    return changed, Claim(reason, start, epoch, False, record.lastHeartbeatAt)
