"""The failover engine: find stale sessions, claim each exactly once, launch its backup.

A claim is one conditional write (the store's optimistic put on `version`): it moves
the session to FAILING_OVER, bumps its epoch and appends a failover event, and it
only lands if nothing changed since the session was read and judged stale (same
status, same epoch, still stale). Of any number of detectors racing, one wins; only
the winner launches, with an idempotency token made of session and epoch. The claim
also leaves a fence marker in S3 for the epoch it took, which a recorder cut off from the
API still sees before its next upload.

Before any claim, the storm guard (`guard`) judges whether the silence is the recorders'
or the controller's own: when most recorders on several hosts go quiet at once, only
those S3 shows dead are taken over, a few a sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from hacore.chunks import ChunkIndex
from hacore.errors import SessionNotFound
from hacore.failover.backups import Backups
from hacore.failover.drains import CODEC as DRAIN_CODEC
from hacore.failover.drains import Drain, Drains
from hacore.failover.guard import (
    UNHEARD_SHOWN,
    Evidence,
    GuardState,
    GuardStore,
    Verdict,
    evidence,
    host_of,
    is_storm,
    judge,
    next_state,
)
from hacore.failover.handover import HANDOVER, Handovers
from hacore.failover.host_events import HostEvent
from hacore.failover.nodes import CODEC as NODE_CODEC
from hacore.failover.nodes import Node, Nodes
from hacore.failover.planned import PLANNED, Planned
from hacore.failover.report import NoBackup, SweepReport, Takeover
from hacore.failover.rules import (
    MANUAL,
    Claim,
    NotTakeable,
    RecorderStopped,
    claim,
    exit_needs_takeover,
    stale_reason,
)
from hacore.failover.shadow import Shadows
from hacore.launchers import BackupInfo, Launcher
from hacore.lifecycle import Due, due_for, overdue
from hacore.metrics import MetricSink, NoMetrics
from hacore.models import SessionRecord
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.standby.pool import STANDBY_PREFIX, StandbyPool
from hacore.standby.rules import StandbyStatus
from hacore.versioned import Items, MemoryItems

__all__ = ["FailoverEngine", "NoBackup", "NotTakeable", "SweepReport", "Takeover"]

log = logging.getLogger("hacore.failover")

CUSTOMER_DEADLINES = (Due.HOLD, Due.OUTBOX, Due.TERMINAL)
HOST_SAMPLE = 20  # quiet sessions read to see how many hosts a storm spans


class FailoverEngine:
    def __init__(
        self,
        store: SessionStore,
        launcher: Launcher,
        chunks: ChunkIndex,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        metrics: MetricSink | None = None,
        deadlines: Callable[[str], object] | None = None,
        pool: StandbyPool | None = None,
        guard: GuardStore | None = None,
        drains: Items[Drain] | None = None,
        complete_lifecycle: Callable[[dict[str, str]], None] | None = None,
        nodes: Items[Node] | None = None,
    ) -> None:
        """`deadlines` acts on a lifecycle deadline that is the customer's (a held `failed`, the
        outbox, a terminal OpenVidu never sent: `CustomerTerminal.on_deadline`);
        `pool` hands takeovers to warm standbys and is refilled by every sweep; `guard` keeps
        the storm guard's state, `drains` the drains under way, `nodes` the media nodes' own
        heartbeats (each in memory when None);
        `complete_lifecycle` completes a drained node's Auto Scaling lifecycle action."""
        self.guard = guard or GuardStore(None, None)
        self.deadlines = deadlines
        self.pool = pool
        self.store = store
        self.launcher = launcher
        self.chunks = chunks
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or NoMetrics()
        self.backups = Backups(store, launcher, settings, self.metrics, pool, clock)
        self.handovers = Handovers(store, self.backups, launcher, chunks, settings, self.metrics, clock)
        self.shadows = Shadows(store, self.backups, launcher, chunks, self.metrics)
        self.nodes = Nodes(nodes or MemoryItems(NODE_CODEC), clock)
        self.drains = Drains(
            store,
            self.handovers,
            drains or MemoryItems(DRAIN_CODEC),
            settings.drain_concurrency,
            self.metrics,
            complete_lifecycle,
            clock,
        )
        self.planned = Planned(self.handovers, self.shadows, self.drains, self.take_over)

    # --- detection ----------------------------------------------------------------

    def census(self) -> int:
        """How many recordings are in progress (the sessions watched): one count query per shard,
        so the detector takes it once a run, not once a sweep."""
        watched = self.store.watched_count()
        self.metrics.add_metric(name="RecordingsInProgress", unit="Count", value=watched)
        return watched

    def sweep(self) -> SweepReport:
        began = time.monotonic()
        now = self.clock()
        s = self.settings
        report = SweepReport()
        candidates = self.store.stale_candidates(
            heartbeat_cutoff=now - s.heartbeat_timeout_s,
            chunk_cutoff=now - min(s.stuck_chunk_timeout_s, s.start_grace_s),
            now=now,
        )
        report.candidates = len(candidates)
        stale: list[tuple[SessionRecord, str]] = []
        for session_id in sorted(candidates):
            record = self.store.find(session_id)
            if record is None:
                continue
            due = due_for(record)
            if due in CUSTOMER_DEADLINES:  # the customer's deadline, not a takeover's claim
                if self.deadlines is not None and overdue(record, self.clock()) is not None:
                    self._customer_deadline(session_id)
                continue
            # a planned deadline (failover off: only a late handover's, abandoned all the same)
            planned = due in PLANNED and (s.failover_enabled or due is Due.HANDOVER)
            if planned and overdue(record, self.clock()) is not None:
                record, done = self.planned.on_deadline(record, due)  # type: ignore[arg-type]
                if done:
                    continue
            reason = stale_reason(record, self.clock(), s)
            if reason is not None and s.failover_enabled:  # off: the customer's deadlines only
                stale.append((record, reason))
        quiet = self.store.quiet_ids(now - s.quiet_after_s)
        state = self._guard_state(quiet, {r.sessionId: r for r, _ in stale}, now)
        report.storm, report.quiet = state.storm, len(quiet)
        taken_in_storm = 0
        heard: list[set[str]] = []  # the nodes heard lately: read once, and only if a storm asks

        def node_heard(record: SessionRecord) -> bool:
            if not heard:
                heard.append(self.nodes.heard_since(now - s.heartbeat_timeout_s))
            return host_of(record) in heard[0]

        for record, reason in stale:
            verdict = judge(
                record,
                reason,
                state,
                now,
                s,
                lambda r=record: self._evidence(r, now),
                lambda r=record: node_heard(r),
            )
            if verdict is Verdict.TAKE_OVER and state.storm:
                taken_in_storm += 1
                if taken_in_storm > s.storm_takeovers_per_sweep:
                    verdict = Verdict.RATE_LIMITED
            if verdict is not Verdict.TAKE_OVER:
                report.held[record.sessionId] = verdict.value
                continue
            report.stale += 1
            try:
                takeover = self._take_over(record.sessionId)
            except SessionNotFound:
                continue
            if takeover is None:
                report.lostRaces += 1
            elif takeover.outcome == "gave-up":
                report.failed.append(record.sessionId)
            else:
                report.takeovers.append(takeover)
        if report.held:
            log.warning("takeovers held this sweep: %s", report.held)
        report.unheard = sorted(k for k, v in report.held.items() if v == Verdict.HOLD_UNHEARD.value)
        self._remember_unheard(state, report.unheard)
        if s.failover_enabled:
            report.drains = [asdict(d) for d in self.drains.sweep()]
        if self.pool is not None and self.pool.enabled:
            try:
                report.standbysLaunched = len(self.pool.refill())
            except Exception:  # a pool that cannot be refilled never stops detection
                log.exception("refilling the standby pool failed")
        report.seconds = time.monotonic() - began
        self.metrics.add_metric(name="Sweeps", unit="Count", value=1)
        self.metrics.add_metric(name="StaleSessions", unit="Count", value=report.stale)
        self.metrics.add_metric(name="TakeoversHeld", unit="Count", value=len(report.held))
        self.metrics.add_metric(name="UnheardSessions", unit="Count", value=len(report.unheard))
        self.metrics.add_metric(name="StormGuard", unit="Count", value=1 if state.storm else 0)
        self.metrics.add_metric(name="SweepDuration", unit="Seconds", value=report.seconds)
        return report

    def _guard_state(self, quiet: list[str], known: dict[str, SessionRecord], now: float) -> GuardState:
        """This sweep's storm judgement; a change (a storm begins or ends) is written once. The
        hosts come from the quiet sessions already read and a few more; the count of sessions
        watched (a read of the whole index) only when the quiet ones span hosts enough."""
        s = self.settings
        state = self.guard.load()
        storm = False
        if len(quiet) >= s.storm_min_sessions:
            sample = [known[i] for i in quiet if i in known]
            for session_id in [i for i in quiet if i not in known][: max(0, HOST_SAMPLE - len(sample))]:
                found = self.store.find(session_id)
                sample += [found] if found is not None else []
            hosts = {host_of(r) for r in sample}
            if len(hosts) >= s.storm_min_hosts:
                storm = is_storm(len(quiet), self.store.watched_count(), hosts, s)
        changed = next_state(state, storm, now)
        if changed == state:
            return state
        if not self.guard.save(changed):
            return self.guard.load()  # another detector judged first
        if changed.storm:
            log.error(
                "STORM GUARD ON: %s sessions on several hosts missed heartbeats at once; the controller "
                "doubts it can hear them: takeovers only for recorders S3 shows dead",
                len(quiet),
            )
        else:
            log.warning("storm guard off: heartbeats flow again; the silent get one more timeout")
        return replace(changed, version=changed.version + 1)

    def _customer_deadline(self, session_id: str) -> None:
        try:
            if self.deadlines is not None:
                self.deadlines(session_id)
        except Exception:  # one session's queue or store trouble never stops the sweep: next one
            log.exception(
                "the lifecycle deadline of %s could not be acted on; the next sweep tries", session_id
            )

    def _remember_unheard(self, state: GuardState, unheard: list[str]) -> None:
        """The status route shows who is unheard: written only when the set changes (`state`:
        the guard's item as this sweep read it)."""
        shown = tuple(unheard[:UNHEARD_SHOWN])
        if state.unheard == shown:
            return
        if unheard:
            log.warning("unheard but storing chunks (not taken over): %s", unheard)
        self.guard.save(replace(state, unheard=shown))  # lost race: next sweep

    def _evidence(self, record: SessionRecord, now: float) -> Evidence:
        try:
            return evidence(self.chunks.scan(record.sessionId), record, now, self.settings)
        except Exception:  # S3 unreadable: no evidence of death, so it is held
            log.exception("could not read the chunks of %s", record.sessionId)
            return Evidence.UNKNOWN

    def on_host_event(self, event: HostEvent) -> dict[str, Any]:
        return self.planned.on_host_event(event)

    def hand_over(self, session_id: str, reason: str = HANDOVER) -> Takeover:
        """A make-before-break handover (`hacore.failover.handover`): nothing is fenced until the
        new recorder's first chunk is durable."""
        return self.handovers.start(session_id, reason)

    def take_over(self, session_id: str, reason: str = MANUAL) -> Takeover:
        """A takeover on demand (an operator, OpenVidu's `failed`): whatever the heartbeat says."""
        takeover = self._take_over(session_id, forced_reason=reason)
        if takeover is None:
            raise NotTakeable(f"Session {session_id} changed while it was being taken over; try again")
        return takeover

    def on_recorder_stopped(self, stopped: RecorderStopped) -> Takeover | None:
        """Event-driven detection: the backup that owns a session stopped uncleanly. Claimed at once,
        on the same conditional write as a sweep's, re-checked inside it (the owner, the epoch)."""
        session_id = self._session_of(stopped)
        if session_id is None:
            return None
        record = self.store.find(session_id)
        if record is None or not exit_needs_takeover(record, stopped):
            return None
        log.warning(
            "the recorder of %s (%s) stopped with exit code %s: taking over now",
            session_id,
            stopped.ref,
            stopped.exit_code,
        )
        try:
            return self._take_over(
                session_id,
                forced_reason=stopped.reason,
                only_if=lambda current: exit_needs_takeover(current, stopped),
            )
        except (NotTakeable, SessionNotFound):
            return None

    def _session_of(self, stopped: RecorderStopped) -> str | None:
        """A standby records under its own id until it takes a session: the pool knows which."""
        session_id = stopped.session_id
        if session_id and self.pool is not None and session_id.startswith(STANDBY_PREFIX):
            standby = self.pool.store.find(session_id)
            accepted = standby is not None and standby.status is StandbyStatus.ACCEPTED
            return standby.assignment.sessionId if accepted and standby.assignment else None
        return session_id

    # --- the claim and the launch -------------------------------------------------

    def _take_over(
        self,
        session_id: str,
        forced_reason: str | None = None,
        only_if: Callable[[SessionRecord], bool] | None = None,
    ) -> Takeover | None:
        """Claims (`rules.claim`, one conditional write), then launches. None when another detector
        won the claim, or the session is no longer stale (or no longer `only_if`)."""

        def rule(record: SessionRecord, now: float) -> tuple[SessionRecord, Claim | None]:
            if only_if is not None and not only_if(record):
                return record, None  # someone else took it over, or it ended, since the event
            return claim(record, now, self.settings, lambda: self.chunks.newest(session_id), forced_reason)

        record, claimed = self.store.decide_with(session_id, rule)
        if claimed is None:
            return None
        if claimed.gave_up:
            log.error(
                "session %s FAILED after %s takeover attempts",
                session_id,
                self.settings.max_failover_attempts,
            )
            self.metrics.add_metric(name="FailedSessions", unit="Count", value=1)
            self.stop_backups(record)  # one that never answered may still record: it finalizes
            return Takeover(session_id, claimed.reason, claimed.epoch, claimed.start, "gave-up")
        self.metrics.add_metric(
            name="Takeovers",
            unit="Count",
            value=1,
            dimensions={"Reason": claimed.reason},
            metadata={"sessionId": session_id},
        )
        self.chunks.fence(session_id, claimed.epoch)  # before the launch: the old recorder stops sooner
        if claimed.promoted:
            self.metrics.add_metric(name="ShadowPromotions", unit="Count", value=1)
            log.warning("%s: its shadow (epoch %s) owns it now, nothing lost", session_id, claimed.epoch)
            return Takeover(
                session_id, claimed.reason, claimed.epoch, claimed.start, "promoted", record.launcherRef
            )
        return self.backups.launch(record, claimed)

    # --- backups (hacore.failover.backups) ------------------------------------------

    def launch_finalizer(self, session_id: str, why: str) -> str | None:
        return self.backups.launch_finalizer(session_id, why)

    def stop_backups(self, record: SessionRecord) -> list[str]:
        return self.backups.stop_backups(record)

    def stop_backup(self, session_id: str, force: bool) -> BackupInfo | None:
        return self.backups.stop_backup(session_id, force)
