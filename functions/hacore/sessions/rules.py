"""The session's rules, as pure functions over the record: what a registration, a heartbeat and a
status report do to it. The store only reads, applies one of these and writes
(`SessionStore.decide`); its one-write fast path for the steady heartbeat is `is_steady`'s case,
and a property test runs random (record, beat) pairs through both paths.

The heartbeat's rules:
* fencing: a beat of another epoch is refused (409: that recorder must stop);
* chunks only move forward (a retried older heartbeat does not move them back);
* a STARTING session becomes RECORDING with its first chunk;
* during a takeover only the backup ends FAILING_OVER (`backup_is_beating`), and its chunk clock
  starts with it;
* capture restarts only grow;
* during a make-before-break handover the owner beats on as usual, and the new recorder (the
  handover's epoch) is heard without a change until it reports a durable chunk *and* the
  owner's stored media reaches that chunk's start (`HandoverReady`, a question to S3 the
  caller answers): then it owns the session (`complete_handover`), and the caller fences the
  old epoch in S3. Fenced, the owner uploads nothing more, so fencing it before its chunk of
  that moment is stored would leave a gap;
* a shadow (redundant recording) is heard, and only heard: it owns nothing until promoted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hacore.errors import StaleEpoch
from hacore.lifecycle import deadline
from hacore.models import Beat, FailoverEvent, Registration, SessionRecord, Status, chunk_index

# The controller's own moves between statuses, and what makes each. A recorder's or operator's
# report (PUT .../status, the original contract) may say any status word (`report`).
TRANSITIONS: dict[tuple[Status, Status], str] = {
    (Status.STARTING, Status.RECORDING): "the first chunk of the recorder (heartbeat)",
    (Status.FAILING_OVER, Status.RECORDING): "the backup's first heartbeat",
    (Status.STARTING, Status.FAILING_OVER): "a takeover (the detector claims it)",
    (Status.RECORDING, Status.FAILING_OVER): "a takeover (the detector claims it)",
    (Status.FAILING_OVER, Status.FAILED): "the takeover gave up (APP_FAILOVER_MAX_ATTEMPTS)",
    **{(before, Status.STOPPING): "OpenVidu's `stopped`" for before in Status},
    **{(before, Status.COMPLETED): "OpenVidu's `ready`" for before in Status},
    **{
        (before, Status.FAILED): "OpenVidu's `failed`"
        for before in Status
        if before is not Status.FAILING_OVER
    },
    **{(before, Status.INACTIVE): "deactivated (PUT .../deactivate)" for before in Status},
}


def report(record: SessionRecord, status: Status) -> SessionRecord:
    """A status the recorder or an operator reports (PUT .../status): any word of the contract."""
    return record if status is record.status else record.model_copy(update={"status": status})


def move(before: Status, after: Status) -> Status:
    """One of the controller's own moves: only those `TRANSITIONS` names (a bug otherwise)."""
    if before is not after and (before, after) not in TRANSITIONS:
        raise ValueError(f"no rule moves a session from {before} to {after}")
    return after


def expiry(status: Status, now: float, live_s: int, retention_s: int) -> int:
    """The TTL: activity pushes it forward, so a live session lives while it is heard from; an
    ended one is kept for the retention."""
    return int(now + (live_s if status.active else retention_s))


def in_claims_index(record: SessionRecord) -> float | None:
    """When the detector's sweep must look at the record again through `ClaimsByExpiry` (a claim,
    a hold, the outbox, a terminal owed: `hacore.lifecycle.deadline`), or None: not indexed."""
    return deadline(record)


def new_session(request: Registration, now: float, redundant: bool = False) -> SessionRecord:
    """`redundant`: APP_REDUNDANT_RECORDING, unless the request says."""
    status = request.initial_status
    return SessionRecord(
        sessionId=request.sessionId,
        clientId=request.clientId,
        clientHost=request.clientHost,
        instanceId=request.instanceId,
        uniqueSessionId=request.uniqueSessionId,
        originalSessionId=request.originalSessionId,
        status=status,
        createdAt=now,
        updatedAt=now,
        lastHeartbeatAt=now,
        lastChunkChangedAt=now,
        recordingJson=request.recordingJson,
        environment=request.environment or {},
        metadata=request.metadata or {},
        redundant=redundant if request.redundant is None else request.redundant,
        expiresAt=0,  # the store's (expiry)
    )


def highest_epoch(record: SessionRecord) -> int:
    """The newest epoch ever given out for the session: its owner's, a handover's in progress, or
    one abandoned (whose recorder may still run: the next epoch must fence it too)."""
    given = [record.epoch, *(f.epoch for f in record.failovers)]
    given += [e.epoch for e in (record.handover, record.shadow) if e is not None]
    return max(given)


def backup_is_beating(record: SessionRecord, beat: Beat) -> bool:
    """During a takeover, only the backup may end FAILING_OVER.

    An epoch-aware backup says so with the current epoch; a legacy backup (no epoch)
    shows it by reporting a chunk at or past the start chunk it was given.
    """
    if beat.epoch is not None:
        return beat.epoch == record.epoch
    if beat.lastChunk is None or not record.failovers:
        return False
    return chunk_index(beat.lastChunk) >= int(record.failovers[-1].startChunk)


def is_steady(record: SessionRecord, beat: Beat) -> bool:
    """The owner of a live session beating as usual: its epoch (or none), RECORDING with a newer
    chunk or STARTING/RECORDING with none, restarts not going back. The store writes this case
    in one conditional UpdateItem whose condition is exactly this predicate."""
    if beat.epoch is not None and beat.epoch != record.epoch:
        return False
    if beat.captureRestarts is not None and record.captureRestarts > beat.captureRestarts:
        return False
    if beat.lastChunk is None:
        return record.status in (Status.RECORDING, Status.STARTING)
    newer = record.lastChunkIndex is None or chunk_index(beat.lastChunk) > record.lastChunkIndex
    return record.status is Status.RECORDING and newer


# Asked when a handover's recorder reports a durable chunk: may it own the session now?
# (record, beat, now) -> bool. The default says yes: no S3 to ask (the rules' own tests).
HandoverReady = Callable[[SessionRecord, Beat, float], bool]


def always_ready(record: SessionRecord, beat: Beat, now: float) -> bool:
    return True


def apply_heartbeat(
    record: SessionRecord, beat: Beat, now: float, handover_ready: HandoverReady = always_ready
) -> SessionRecord:
    """What one heartbeat does to the record (see the module doc). Raises StaleEpoch to fence."""
    if record.handover is not None and beat.epoch is not None and beat.epoch == record.handover.epoch:
        if beat.lastChunk is None:
            return record
        if handover_ready(record, beat, now):
            return complete_handover(record, beat, now)
        if record.handover.heardAt is not None:
            return record
        # its first durable chunk, the owner's not there yet: the wait is counted from now
        return record.model_copy(update={"handover": record.handover.model_copy(update={"heardAt": now})})
    if record.shadow is not None and beat.epoch is not None and beat.epoch == record.shadow.epoch:
        heard = {"heardAt": now, "runningAt": record.shadow.runningAt or now, "outcome": "running"}
        return record.model_copy(update={"shadow": record.shadow.model_copy(update=heard)})
    if beat.epoch is not None and beat.epoch != record.epoch:
        raise StaleEpoch(record.sessionId, beat.epoch, record.epoch)
    updates: dict[str, Any] = {"lastHeartbeatAt": now}
    advanced = False
    if beat.lastChunk is not None:
        index = chunk_index(beat.lastChunk)
        if record.lastChunkIndex is None or index > record.lastChunkIndex:
            updates |= {"lastChunk": beat.lastChunk, "lastChunkIndex": index, "lastChunkChangedAt": now}
            advanced = True
    if record.status is Status.STARTING and advanced:
        updates["status"] = move(record.status, Status.RECORDING)
    elif record.status is Status.FAILING_OVER and backup_is_beating(record, beat):
        # The backup owns the session now; its chunk clock starts with it.
        updates |= {
            "status": move(record.status, Status.RECORDING),
            "failovers": mark_last_failover(record.failovers, "running", runningAt=now),
            "failoverAttempts": 0,
            "claimExpiresAt": None,
            "lastChunkChangedAt": now,
        }
    if beat.captureRestarts is not None and beat.captureRestarts > record.captureRestarts:
        updates["captureRestarts"] = beat.captureRestarts
    if beat.captureHealth is not None and beat.captureHealth != record.captureHealth:
        updates["captureHealth"] = beat.captureHealth
    updated = record.model_copy(update=updates)
    updated._restarts_added = restarts_added(record, beat)
    return updated


def set_aside(record: SessionRecord, owner_epoch: int) -> list[FailoverEvent]:
    """The history once `owner_epoch` owns the session: a handover or a shadow of another epoch is
    set aside into it (its recorder, refused from now on, stops itself), so that no epoch is
    ever given out twice and none below the owner's is ever promoted."""
    history = list(record.failovers)
    for other in (record.handover, record.shadow):
        if other is not None and other.epoch != owner_epoch:
            done = {"outcome": "superseded", "detail": f"epoch {owner_epoch} took over"}
            history.append(other.model_copy(update=done))
    return history


def owned_by(record: SessionRecord, event: FailoverEvent, now: float, **more: Any) -> SessionRecord:
    """The recorder of `event` (a handover's, a promoted shadow's) owns the session from now: its
    epoch, its launch, a chunk clock starting with it; `more`: what else the move changes."""
    return record.model_copy(
        update={
            "epoch": event.epoch,
            "handover": None,
            "shadow": None,
            "claimExpiresAt": None,
            "failovers": [*set_aside(record, event.epoch), event],
            "launcherRef": event.launcherRef,
            "backupContainerName": event.standbyId or event.launcherRef,
            "lastHeartbeatAt": now,
            "lastChunkChangedAt": now,
            "failoverAttempts": 0,
            **more,
        }
    )


def complete_handover(record: SessionRecord, beat: Beat, now: float) -> SessionRecord:
    """The handover's recorder stored its first chunk: it owns the session from now on. Its chunk
    clock starts with it (its numbers may trail the old owner's, which recorded on meanwhile)."""
    if record.handover is None or beat.lastChunk is None:
        raise ValueError("a handover completes with its recorder's first stored chunk")
    done = record.handover.model_copy(update={"outcome": "running", "runningAt": now})
    updated = owned_by(
        record, done, now, lastChunk=beat.lastChunk, lastChunkIndex=chunk_index(beat.lastChunk)
    )
    updated._handed_over = True
    return updated


def restarts_added(record: SessionRecord, beat: Beat) -> int:
    """How many capture restarts this beat reports that the record had not (a metric's value)."""
    return max(0, (beat.captureRestarts or 0) - record.captureRestarts)


def mark_last_failover(failovers: list[FailoverEvent], outcome: str, **changes: Any) -> list[FailoverEvent]:
    """The history with its newest takeover's outcome (and any other fields) changed."""
    if not failovers:
        return failovers
    return [*failovers[:-1], failovers[-1].model_copy(update={"outcome": outcome, **changes})]
