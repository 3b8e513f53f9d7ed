"""Make-before-break handovers: a new recorder starts beside the one recording, and owns the
session once its first chunk is durable; only then is the old one fenced, and it stops by itself.
No gap: both record the moments of the handover, and finalize keeps one copy of each (the
wall-clock cut); the old one is fenced only once its stored media reaches the new one's first
chunk (`Handovers.ready`): fenced, it uploads nothing more. Planned ends of a recorder go this
way: an operator's handover, a node drained (Spot's warning, an Auto Scaling lifecycle hook), a
recorder rotated for its age.

The rules (pure): a handover begins only for a RECORDING session without one in progress; its
epoch is above every epoch ever given out; nothing is fenced and the owner is untouched. Its
recorder's first durable chunk completes it (`sessions.rules.complete_handover`). One that has
not by APP_FAILOVER_BACKUP_START_TIMEOUT is abandoned: its recorder is stopped, the owner
records on. A takeover claimed meanwhile (the owner died) supersedes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hacore.chunks import ChunkIndex
from hacore.errors import DomainError
from hacore.failover.backups import Backups
from hacore.failover.report import Takeover
from hacore.failover.rules import Claim, chunk_label, next_chunk
from hacore.launchers import Launcher
from hacore.metrics import MetricSink
from hacore.models import Beat, FailoverEvent, SessionRecord, Status
from hacore.sessions.rules import highest_epoch
from hacore.sessions.store import SessionStore
from hacore.settings import Settings

log = logging.getLogger("hacore.handover")

HANDOVER = "handover"  # asked for (the API, `ovha sessions handover`)
DRAIN = "drain"  # its node is being emptied
ROTATION = "rotation"  # its recorder is older than APP_MAX_RECORDER_AGE
# (hacore.models.HANDOVER_REASONS names these three for the layers below: test_handover holds them equal)


class NotHandable(DomainError):
    """A handover asked of a session that is not RECORDING, or is being handed over already."""

    status_code = 409


def begin(
    record: SessionRecord,
    now: float,
    settings: Settings,
    newest_stored: Callable[[], int | None],
    reason: str = HANDOVER,
) -> tuple[SessionRecord, Claim]:
    if record.status is not Status.RECORDING:
        raise NotHandable(
            f"Session {record.sessionId} is {record.status.value}: only a RECORDING one can be handed over"
        )
    if record.handover is not None:
        raise NotHandable(
            f"Session {record.sessionId} is being handed over already (to epoch {record.handover.epoch})"
        )
    epoch = highest_epoch(record) + 1
    start = chunk_label(next_chunk(record.lastChunkIndex, newest_stored()))
    event = FailoverEvent(epoch=epoch, at=now, reason=reason, startChunk=start)
    changed = record.model_copy(
        update={"handover": event, "claimExpiresAt": now + settings.backup_start_deadline_s}
    )
    return changed, Claim(reason, start, epoch, False, now)


def abandon(record: SessionRecord, epoch: int, why: str) -> SessionRecord:
    """The handover of `epoch` ends without its recorder: kept in the history, the owner untouched."""
    if record.handover is None or record.handover.epoch != epoch:
        return record
    ended = record.handover.model_copy(update={"outcome": "abandoned", "detail": why[:500]})
    return record.model_copy(
        update={"handover": None, "claimExpiresAt": None, "failovers": [*record.failovers, ended]}
    )


class Handovers:
    """Begins handovers (and launches their recorders), fences the old epoch once one completes,
    abandons the late."""

    def __init__(
        self,
        store: SessionStore,
        backups: Backups,
        launcher: Launcher,
        chunks: ChunkIndex,
        settings: Settings,
        metrics: MetricSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.backups = backups
        self.launcher = launcher
        self.chunks = chunks
        self.settings = settings
        self.metrics = metrics
        self.clock = clock

    def start(self, session_id: str, reason: str = HANDOVER) -> Takeover:
        record, claimed = self.store.decide_with(
            session_id,
            lambda r, now: begin(r, now, self.settings, lambda: self.chunks.newest(session_id), reason),
        )
        self.metrics.add_metric(name="Handovers", unit="Count", value=1, dimensions={"Reason": reason})
        log.info(
            "handing %s over (%s) to epoch %s from chunk %s", session_id, reason, claimed.epoch, claimed.start
        )
        return self.backups.launch(record, claimed)

    @property
    def cover_wait_s(self) -> float:
        """How long a handover waits for the owner's chunk of its first moment: that chunk closed
        when the new one's first did, give or take; a chunk and a heartbeat more is its upload
        at its slowest. An owner that has not stored it by then never will (its node is failing):
        the handover completes, its gap reported."""
        return float(self.settings.chunk_time_size_s + self.settings.heartbeat_interval_s)

    def ready(self, record: SessionRecord, beat: Beat, now: float) -> bool:
        """`sessions.rules.HandoverReady`: may the handover's recorder own the session now?"""
        pending = record.handover
        if pending is None:
            return True
        first = int(pending.startChunk)
        if self.chunks.reaches(record.sessionId, record.epoch, pending.epoch, first):
            return True
        waited = now - (pending.heardAt if pending.heardAt is not None else now)
        if waited < self.cover_wait_s:
            log.info(
                "%s: epoch %s stored its first chunk; waiting for epoch %s's media of that moment",
                record.sessionId,
                pending.epoch,
                record.epoch,
            )
            return False
        log.warning(
            "%s: epoch %s's media never reached epoch %s's first chunk in %.0fs; handed over with a gap",
            record.sessionId,
            record.epoch,
            pending.epoch,
            waited,
        )
        self.metrics.add_metric(name="HandoversWithGap", unit="Count", value=1)
        return True

    def completed(self, record: SessionRecord) -> None:
        """The new recorder owns the session: the old one learns it from S3 (and its next beat's 409)."""
        self.chunks.fence(record.sessionId, record.epoch)
        event = record.failovers[-1]
        log.info(
            "%s handed over to epoch %s in %.1fs",
            record.sessionId,
            record.epoch,
            (event.runningAt or 0) - event.at,
        )
        self.metrics.add_metric(
            name="HandoverSeconds", unit="Seconds", value=max(0.0, (event.runningAt or 0) - event.at)
        )

    def abandon(self, before: SessionRecord, why: str) -> SessionRecord:
        """`before`: the record as the sweep just read it (the write re-reads it: no second read here)."""
        if before.handover is None:
            return before
        session_id, pending = before.sessionId, before.handover
        record = self.store.decide(session_id, lambda r, now: abandon(r, pending.epoch, why))
        log.warning("the handover of %s to epoch %s was abandoned: %s", session_id, pending.epoch, why)
        self.metrics.add_metric(name="HandoversAbandoned", unit="Count", value=1)
        if pending.launcherRef:
            self.launcher.stop(pending.launcherRef, force=True)  # fenced too: its beats now get 409
        return record
