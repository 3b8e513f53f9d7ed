"""A takeover's backup: handed to a warm standby, or launched cold, and its outcome written to
the session (unless a newer epoch took it meanwhile); finalizers; stopping a session's backups.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from hacore.errors import SessionNotFound
from hacore.failover.report import NoBackup, Takeover
from hacore.failover.rules import Claim, chunk_label
from hacore.launchers import BackupInfo, BackupSpec, Launcher
from hacore.launchers.base import backup_environment
from hacore.lifecycle import ENDED
from hacore.metrics import MetricSink
from hacore.models import SessionRecord, Status
from hacore.sessions.rules import mark_last_failover
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.standby.pool import HandOver, StandbyPool

log = logging.getLogger("hacore.failover")


class Backups:
    def __init__(
        self,
        store: SessionStore,
        launcher: Launcher,
        settings: Settings,
        metrics: MetricSink,
        pool: StandbyPool | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.settings = settings
        self.metrics = metrics
        self.pool = pool
        self.clock = clock

    def launch(self, record: SessionRecord, claim: Claim) -> Takeover:
        """The claimed session's new recorder: a warm standby if one accepts, else a cold launch."""
        epoch, start = claim.epoch, claim.start
        spec = BackupSpec(
            record.sessionId, epoch, start, backup_environment(record, epoch, start, self.settings)
        )
        handed = self._hand_to_standby(spec)
        if handed is not None:
            self._record_outcome(
                record.sessionId,
                epoch,
                "launched",
                ref=handed.ref,
                name=handed.standby_id,
                launched_at=self.clock(),
                standby_id=handed.standby_id,
                detail=f"a warm standby accepted in {handed.seconds:.2f}s",
            )
            self.metrics.add_metric(name="StandbyHandOvers", unit="Count", value=1)
            log.info("standby %s took over %s at epoch %s", handed.standby_id, record.sessionId, epoch)
            return Takeover(
                record.sessionId, claim.reason, epoch, start, "launched", handed.ref, standby=True
            )
        try:
            ref = self.launcher.launch(spec)
        except Exception as error:
            detail = f"{type(error).__name__}: {error}"[:500]
            log.warning("launching the backup of %s (epoch %s) failed: %s", record.sessionId, epoch, detail)
            self.metrics.add_metric(name="LaunchFailures", unit="Count", value=1)
            self._record_outcome(record.sessionId, epoch, "launch-failed", detail=detail, lapse_now=True)
            return Takeover(record.sessionId, claim.reason, epoch, start, "launch-failed", detail=detail)
        launched_at = self.clock()
        self._record_outcome(
            record.sessionId, epoch, "launched", ref=ref, name=spec.name, launched_at=launched_at
        )
        self.metrics.add_metric(
            name="DetectionToLaunchSeconds",
            unit="Seconds",
            value=max(0.0, launched_at - claim.silent_since),
        )
        log.info("backup %s launched for %s at epoch %s from chunk %s", ref, record.sessionId, epoch, start)
        return Takeover(record.sessionId, claim.reason, epoch, start, "launched", launcherRef=ref)

    def _hand_to_standby(self, spec: BackupSpec) -> HandOver | None:
        if self.pool is None or not self.pool.enabled:
            return None
        try:
            handed = self.pool.hand_over(spec)
        except Exception:  # the pool's table down: a cold launch still saves the recording
            log.exception("the standby pool failed; launching cold")
            return None
        if handed is None:
            self.metrics.add_metric(name="StandbyMisses", unit="Count", value=1)
        return handed

    def _record_outcome(
        self,
        session_id: str,
        epoch: int,
        outcome: str,
        *,
        ref: str | None = None,
        name: str | None = None,
        detail: str | None = None,
        launched_at: float | None = None,
        lapse_now: bool = False,
        standby_id: str | None = None,
    ) -> None:
        """Writes how the launch went, unless a newer epoch has taken the session since."""

        def change(record: SessionRecord, now: float) -> SessionRecord:
            launch = {
                "launcherRef": ref,
                "detail": detail,
                "launchedAt": launched_at,
                "standbyId": standby_id,
            }
            if record.handover is not None and record.handover.epoch == epoch:  # not the owner yet
                handover = record.handover.model_copy(update={"outcome": outcome, **launch})
                lapse = {"claimExpiresAt": now} if lapse_now else {}  # abandoned by the next sweep
                return record.model_copy(update={"handover": handover, **lapse})
            if record.shadow is not None and record.shadow.epoch == epoch:  # a shadow: it owns nothing
                heard = record.shadow.outcome == "running"  # it may have beaten before this write
                shadow = record.shadow.model_copy(
                    update={"outcome": "running" if heard else outcome, **launch}
                )
                return record.model_copy(update={"shadow": shadow})
            if record.epoch != epoch or not record.failovers or record.failovers[-1].epoch != epoch:
                return record
            # The backup may have heartbeated (outcome "running") before we got here.
            outcome_now = "running" if record.failovers[-1].outcome == "running" else outcome
            update: dict[str, Any] = {
                "failovers": mark_last_failover(
                    record.failovers,
                    outcome_now,
                    launcherRef=ref,
                    detail=detail,
                    launchedAt=launched_at,
                    standbyId=standby_id,
                ),
            }
            if ref is not None:
                update |= {"launcherRef": ref, "backupContainerName": name}
            if lapse_now and record.status is Status.FAILING_OVER:
                update["claimExpiresAt"] = now  # claimable again on the next sweep
            return record.model_copy(update=update)

        try:
            record = self.store.decide(session_id, change)
        except SessionNotFound:
            log.warning("session %s vanished before its launch outcome (%s) was written", session_id, outcome)
            return
        if ref is not None and record.status in ENDED:  # it ended while we launched: nobody else will
            log.warning("session %s ended while its backup %s started: asking it to stop", session_id, ref)
            self.launcher.stop(ref, force=False)  # it finalizes what it has and reports

    def launch_finalizer(self, session_id: str, why: str) -> str | None:
        """Starts `python -m recorder finalize` for the session (its recorder's environment, its
        epoch): it joins every chunk in S3 into the final file and reports it. Idempotent per epoch.
        None when the launcher failed (logged; the caller's next event or report tries again)."""
        record = self.store.get(session_id)
        start = chunk_label(record.lastChunkIndex or 0)
        environment = backup_environment(record, record.epoch, start, self.settings) | {
            "RECORDER_ACTION": "finalize"
        }
        spec = BackupSpec(session_id, record.epoch, start, environment, action="finalize")
        try:
            ref = self.launcher.launch(spec)
        except Exception as error:
            log.error("launching the finalizer of %s failed (%s): %s", session_id, why, error)
            self.metrics.add_metric(name="LaunchFailures", unit="Count", value=1)
            return None
        log.info("finalizer %s launched for %s at epoch %s: %s", ref, session_id, record.epoch, why)
        return ref

    def stop_backups(self, record: SessionRecord) -> list[str]:
        """Asks every running backup of the session to stop gracefully (each finalizes what it
        recorded and reports): the one the record names, and any the launcher knows that the
        record does not (a controller that died between a launch and writing its reference)."""
        shadow = record.shadow.launcherRef if record.shadow is not None else None
        if shadow:  # it owns nothing: what it recorded is in S3 already, and the owner finalizes
            self.launcher.stop(shadow, force=True)
        if record.epoch == 1 and not record.launcherRef:
            return []  # never taken over: no backup was ever started for it
        refs = {b.ref for b in self.launcher.list() if b.session_id == record.sessionId} - {shadow}
        if record.launcherRef:
            backup = self.launcher.describe(record.launcherRef)
            if backup is not None and backup.state == "running":
                refs.add(record.launcherRef)
        for ref in sorted(refs):
            self.launcher.stop(ref, force=False)
        return sorted(refs)

    def stop_backup(self, session_id: str, force: bool) -> BackupInfo | None:
        record = self.store.get(session_id)
        if not record.launcherRef:
            raise NoBackup(f"Session {session_id} has no backup recorder")
        stopped = self.launcher.stop(record.launcherRef, force=force)
        if not stopped:
            raise NoBackup(f"The backup recorder of session {session_id} is not running")
        return self.launcher.describe(record.launcherRef)
