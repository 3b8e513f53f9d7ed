"""When a session needs a takeover. Pure functions of the record, the time and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from hacore.models import SessionRecord, Status
from hacore.settings import Settings

HEARTBEAT_TIMEOUT = "heartbeat-timeout"
STUCK_CHUNK = "stuck-chunk"
NO_FIRST_CHUNK = "no-first-chunk"
BACKUP_START_TIMEOUT = "backup-start-timeout"
LAUNCH_FAILED = "launch-failed"
BACKUP_EXITED = "backup-exited"
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


def exit_needs_takeover(record: SessionRecord, stopped: RecorderStopped) -> bool:
    """The recorder that owns this live session died: take over now, not after the heartbeat timeout.
    A recorder that no longer owns it (an older epoch), a clean exit or a stop on purpose: nothing."""
    return (
        not stopped.on_purpose
        and stopped.exit_code not in CLEAN_EXIT_CODES
        and record.launcherRef == stopped.ref
        and record.status in (Status.STARTING, Status.RECORDING, Status.FAILING_OVER)
    )
