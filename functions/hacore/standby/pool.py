"""The pool of warm standbys: hands a takeover's session to one of them, and keeps it full.

A hand-over is bounded (APP_STANDBY_ACCEPT_TIMEOUT): a standby that does not accept in time is
retired and the takeover launches cold, as it would with no pool. The pool is refilled by the
detector's sweep: standbys are launched through the same launcher as backups (an ECS task of
the recorder's task definition, a local process), with RECORDER_ACTION=standby. A standby
launched but not yet registered counts as coming (Fargate takes minutes), unless it is older
than the backup start timeout plus the modelled launch delay.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from hacore.errors import DomainError
from hacore.launchers.base import BackupSpec, Launcher
from hacore.settings import Settings
from hacore.standby.rules import Assignment, StandbyRecord, StandbyStatus, assign, retire
from hacore.standby.store import StandbyStore

log = logging.getLogger("hacore.standby")
STANDBY_PREFIX = "standby-"
WATCH_EVERY_S = 0.05
# Standbys that die before they register (a broken image, a host without X) must not be relaunched
# every sweep forever: at most this many launches per pool slot in LAUNCH_WINDOW_S, then it waits.
LAUNCHES_PER_SLOT = 3
LAUNCH_WINDOW_S = 600.0


@dataclass(frozen=True)
class HandOver:
    standby_id: str
    ref: str  # the standby's launcher reference: stopping the backup stops this process or task
    seconds: float


class StandbyPool:
    def __init__(
        self,
        store: StandbyStore,
        launcher: Launcher,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.launcher = launcher
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self._launched: dict[str, float] = {}  # standbys this process launched, not yet registered

    @property
    def enabled(self) -> bool:
        return self.settings.standby_pool_size > 0

    # --- the hand-over ------------------------------------------------------------

    def hand_over(self, spec: BackupSpec) -> HandOver | None:
        """The session to an idle standby, freshest first; None: none accepted in time (go cold)."""
        began = time.monotonic()
        deadline = began + self.settings.standby_accept_timeout_s
        now = self.clock()
        idle = sorted(
            (r for r in self.store.all() if r.available(now, self.settings.standby_silent_after_s)),
            key=lambda r: r.lastSeenAt,
            reverse=True,
        )
        assignment = Assignment(
            sessionId=spec.session_id,
            epoch=spec.epoch,
            startChunk=spec.start_chunk,
            environment=spec.environment,
            assignedAt=now,
        )
        for candidate in idle:
            if time.monotonic() >= deadline:
                break
            try:
                self.store.decide(
                    candidate.standbyId,
                    lambda record, at: assign(record, assignment, at, self.settings.standby_silent_after_s),
                )
            except DomainError:
                continue  # taken by another takeover, or gone, since the listing
            accepted = self._await_acceptance(candidate.standbyId, spec.epoch, deadline)
            if accepted is not None:
                ref = accepted.launcherRef or self._launcher_ref(accepted.standbyId)
                return HandOver(accepted.standbyId, ref, time.monotonic() - began)
            log.warning("standby %s did not accept %s in time: retired", candidate.standbyId, spec.session_id)
        return None

    def _launcher_ref(self, standby_id: str) -> str:
        """The process or task the standby runs in (it cannot know its own ECS task ARN cheaply)."""
        for info in self.launcher.list():
            if info.session_id == standby_id:
                return info.ref
        return f"standby:{standby_id}"

    def _await_acceptance(self, standby_id: str, epoch: int, deadline: float) -> StandbyRecord | None:
        while True:
            record = self.store.find(standby_id)
            if record is None:
                return None
            if record.status is StandbyStatus.ACCEPTED:
                return record
            if time.monotonic() >= deadline:
                break
            self.sleep(WATCH_EVERY_S)
        try:  # conditional: an acceptance that lands first wins, and is used
            final = self.store.decide(standby_id, lambda r, _: retire(r, epoch))
        except DomainError:
            return None
        return final if final.status is StandbyStatus.ACCEPTED else None

    # --- keeping it full ----------------------------------------------------------

    def refill(self) -> list[str]:
        """Launches what the pool lacks; retires (and stops) standbys that went silent."""
        if not self.enabled:
            return []
        now = self.clock()
        silent = self.settings.standby_silent_after_s
        records = {r.standbyId: r for r in self.store.all()}
        for record in records.values():
            if record.status is StandbyStatus.IDLE and not record.fresh(now, silent):
                self._retire_silent(record)
        coming_for = self.settings.backup_start_deadline_s
        counted = 0
        listed = self.launcher.list()
        running = {info.session_id for info in listed}
        for info in listed:
            standby_id = info.session_id or ""
            if not standby_id.startswith(STANDBY_PREFIX):
                continue
            record = records.get(standby_id)
            if record is None:
                if info.started_at is not None and now - info.started_at > coming_for:
                    log.warning("standby %s never registered: stopped", standby_id)
                    self.launcher.stop(info.ref, force=True)
                    continue
                counted += 1  # still starting
            elif record.available(now, silent):
                counted += 1
        launched = []
        died = self._died_unregistered(records, running, now)
        allowed = max(0, LAUNCHES_PER_SLOT * self.settings.standby_pool_size - died)
        wanted = self.settings.standby_pool_size - counted
        if wanted > allowed:
            log.error(
                "%d standbys died before they registered in the last %.0f s: launching %d, not %d",
                died,
                LAUNCH_WINDOW_S,
                allowed,
                wanted,
            )
        for _ in range(min(wanted, allowed)):
            standby_id = f"{STANDBY_PREFIX}{uuid.uuid4().hex[:12]}"
            spec = BackupSpec(standby_id, 0, "0000", self.environment(standby_id), action="standby")
            try:
                self.launcher.launch(spec)
            except Exception as error:
                log.error("launching standby %s failed: %s", standby_id, error)
                break
            launched.append(standby_id)
            self._launched[standby_id] = now
        return launched

    def _died_unregistered(
        self, records: dict[str, StandbyRecord], running: set[str | None], now: float
    ) -> int:
        """Launched standbys that are gone without ever registering, lately (a registered one is a
        success and forgotten; one still starting is neither)."""
        for standby_id in [s for s in self._launched if s in records]:
            del self._launched[standby_id]
        for standby_id in [s for s, at in self._launched.items() if now - at > LAUNCH_WINDOW_S]:
            del self._launched[standby_id]
        return sum(1 for s in self._launched if s not in running)

    def environment(self, standby_id: str) -> dict[str, str]:
        s = self.settings
        environment = {
            "RECORDER_ACTION": "standby",
            "STANDBY_ID": standby_id,
            "VIDEO_ID": standby_id,  # what the launcher lists it by until it takes a session
        }
        if s.controller_url:
            environment["HA_CONTROLLER_URL"] = s.controller_url
        if s.s3_bucket:
            environment["HA_AWS_S3_BUCKET"] = s.s3_bucket
        return environment

    def _retire_silent(self, record: StandbyRecord) -> None:
        try:
            self.store.decide(record.standbyId, lambda r, _: retire(r))
        except DomainError:
            return
        if record.launcherRef:
            self.launcher.stop(record.launcherRef, force=True)
        log.warning("standby %s went silent: retired", record.standbyId)
