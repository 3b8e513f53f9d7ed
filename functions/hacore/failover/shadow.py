"""Redundant recording: a second recorder, the shadow, records the same session from the start,
at an epoch of its own, owning nothing. When the owner is lost (any takeover's claim), the shadow,
if it was heard lately, is promoted in that same conditional write (`rules.promote`): nothing to
launch, and nothing lost, for it recorded all along. A new shadow then starts for the new owner.
At the end the timeline keeps one copy of every moment (finalize's wall-clock cut).

Opt-in: a register's `redundant`, or APP_REDUNDANT_RECORDING for all. The lifecycle's SHADOW
deadline (`hacore.lifecycle.shadow_due`) brings a session to the sweep when its shadow is due,
or has gone silent; `Shadows.step` starts one, or gives the silent one up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hacore.chunks import ChunkIndex
from hacore.failover.backups import Backups
from hacore.failover.report import Takeover
from hacore.failover.rules import Claim, chunk_label, next_chunk
from hacore.launchers import Launcher
from hacore.metrics import MetricSink
from hacore.models import FailoverEvent, SessionRecord
from hacore.sessions.rules import highest_epoch
from hacore.sessions.store import SessionStore

log = logging.getLogger("hacore.shadow")
SHADOW = "shadow"  # the reason of a shadow's event, until it is promoted


def begin(
    record: SessionRecord, now: float, newest_stored: Callable[[], int | None]
) -> tuple[SessionRecord, Claim | None]:
    """A shadow at an epoch above every one given out; (record, None): none is due any more."""
    if not record.redundant or not record.status.watched or record.shadow is not None:
        return record, None
    epoch = highest_epoch(record) + 1
    start = chunk_label(next_chunk(record.lastChunkIndex, newest_stored()))
    event = FailoverEvent(epoch=epoch, at=now, reason=SHADOW, startChunk=start)
    return record.model_copy(update={"shadow": event}), Claim(SHADOW, start, epoch, False, now)


def give_up(record: SessionRecord, epoch: int, now: float, why: str) -> SessionRecord:
    """The shadow of `epoch` ends: kept in the history at the time it ended (the next one waits a
    backup start timeout from then: `lifecycle.shadow_due`)."""
    if record.shadow is None or record.shadow.epoch != epoch:
        return record
    ended = record.shadow.model_copy(update={"at": now, "outcome": "abandoned", "detail": why[:500]})
    return record.model_copy(update={"shadow": None, "failovers": [*record.failovers, ended]})


class Shadows:
    def __init__(
        self,
        store: SessionStore,
        backups: Backups,
        launcher: Launcher,
        chunks: ChunkIndex,
        metrics: MetricSink,
    ) -> None:
        self.store = store
        self.backups = backups
        self.launcher = launcher
        self.chunks = chunks
        self.metrics = metrics

    def step(self, record: SessionRecord) -> Takeover | None:
        """The session's SHADOW deadline passed: start its shadow, or give up a silent one."""
        if record.shadow is not None:
            self.give_up(record.sessionId, record.shadow, "silent for the heartbeat timeout")
            return None
        session_id = record.sessionId
        current, claimed = self.store.decide_with(
            session_id, lambda r, now: begin(r, now, lambda: self.chunks.newest(session_id))
        )
        if claimed is None:
            return None
        self.metrics.add_metric(name="ShadowsStarted", unit="Count", value=1)
        log.info("a shadow recorder for %s at epoch %s", session_id, claimed.epoch)
        return self.backups.launch(current, claimed)

    def give_up(self, session_id: str, shadow: FailoverEvent, why: str) -> None:
        self.store.decide(session_id, lambda r, now: give_up(r, shadow.epoch, now, why))
        log.warning("the shadow of %s (epoch %s) was given up: %s", session_id, shadow.epoch, why)
        if shadow.launcherRef:
            self.launcher.stop(shadow.launcherRef, force=True)
