"""`/api/failover` routes: status, a sweep on demand, the backups, stopping one, a manual takeover.

`POST /api/failover/check` is registered before `POST /api/failover/<sessionId>`, so a
session literally named `check` cannot be taken over through this path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, Field

from api.documented import ERROR, declared, either
from hacore.errors import DomainError
from hacore.failover.report import SweepReport, Takeover
from hacore.models import iso
from hacore.settings import Settings

if TYPE_CHECKING:  # the engine is built on a failover route's first call
    from hacore.failover.engine import FailoverEngine
    from hacore.launchers import BackupInfo

SessionId = Annotated[str, Path(description="OpenVidu's recording id (the recorder's VIDEO_ID)")]
TAGS = ["failover"]
NO_BACKUP = {404: "No such session, or it has no backup recorder running"}
TAKEOVER_REFUSED = either(
    "Not taken over: the session is not live (an error), or its attempts ran out (now FAILED)",
    "TakeoverReply",
    ERROR,
)


class BackupView(BaseModel):
    containerId: str
    containerName: str | None
    sessionId: str | None
    epoch: int | None
    startChunk: str | None
    state: str
    launcher: str
    startedAt: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, info: BackupInfo) -> BackupView:
        return cls(
            containerId=info.ref,
            containerName=info.name,
            sessionId=info.session_id,
            epoch=info.epoch,
            startChunk=info.start_chunk,
            state=info.state,
            launcher=info.launcher,
            startedAt=iso(info.started_at),
            detail=info.detail,
        )


class StormGuardView(BaseModel):
    """The storm guard (hacore.failover.guard): engaged while most recorders on several hosts are
    unheard at once; then only recorders S3 shows dead are taken over."""

    engaged: bool
    since: str | None
    lastEndedAt: str | None
    share: float
    minSessions: int
    minHosts: int
    takeoversPerSweep: int
    unheard: list[str] = Field(
        default_factory=list,
        description="silent to the controller, S3 shows their recorders storing chunks: not taken over",
    )
    s3QuietAfterSeconds: float = Field(description="no chunk in S3 for this long: S3 says it stopped too")


class FailoverStatus(BaseModel):
    enabled: bool
    heartbeatTimeoutSeconds: int
    stuckChunkTimeoutSeconds: int
    checkIntervalMs: int
    heartbeatIntervalSeconds: int
    chunkTimeSizeSeconds: int
    startGraceSeconds: int
    backupStartTimeoutSeconds: int
    maxAttempts: int
    standbyPoolSize: int
    stormGuard: StormGuardView
    activeBackupContainers: int
    backupContainerDetails: dict[str, str]  # session id -> backup id, as the original listed them
    backups: list[BackupView]  # the same backups, in full
    # The original's Docker words, whatever the launcher: it works, it does not, and why
    dockerInitialized: bool
    dockerInitializationFailed: bool
    dockerStatus: str
    openviduImage: str
    launcher: dict[str, Any]
    timestamp: str


class SweepReply(BaseModel):
    message: str
    activeBackupContainers: int
    dockerInitialized: bool
    candidates: int
    staleSessions: int
    takeovers: list[dict[str, Any]]
    lostRaces: int
    failedSessions: list[str]
    stormGuard: bool
    held: dict[str, str]  # session id -> why its takeover waits (unheard, the storm guard)
    unheard: list[str]  # held because S3 shows their chunks arriving
    seconds: float
    timestamp: str


class BackupsReply(BaseModel):
    activeBackupContainers: dict[str, str]  # session id -> backup id, as the original listed them
    backups: list[BackupView]
    count: int
    timestamp: str


class BackupStopReply(BaseModel):
    message: str
    method: str  # graceful or force
    sessionId: str
    backup: BackupView | None
    timestamp: str


class TakeoverReply(BaseModel):
    message: str
    sessionId: str
    reason: str
    epoch: int
    startChunk: str
    outcome: str
    backupContainerId: str | None
    detail: str | None
    timestamp: str


class FailoverDisabled(DomainError):
    """409: failover is off (APP_FAILOVER_ENABLED=false): the state, not the request, refuses."""

    status_code = 409


def launcher_state(failover: FailoverEngine) -> tuple[dict[str, Any], bool, list[BackupView]]:
    """The launcher's health, whether it works, and its running backups (none asked of a sick one)."""
    health = failover.launcher.health()
    healthy = bool(health.get("healthy"))
    return health, healthy, [BackupView.of(b) for b in failover.launcher.list()] if healthy else []


def by_session(backups: list[BackupView]) -> dict[str, str]:
    """{session id: backup id}: how the original listed its backup containers."""
    return {b.sessionId: b.containerId for b in backups if b.sessionId}


def add_failover_routes(
    app: APIGatewayHttpResolver,
    engine: Callable[[], FailoverEngine],
    settings: Settings,
    clock: Callable[[], float],
) -> None:
    def stamp() -> str:
        return iso(clock()) or ""

    @app.get(
        "/api/failover/status", tags=TAGS, summary="Failover settings, the launcher's health, the backups"
    )
    def status() -> FailoverStatus:
        failover = engine()
        health, healthy, backups = launcher_state(failover)
        guard = failover.guard.load()
        return FailoverStatus(
            backupContainerDetails=by_session(backups),
            backups=backups,
            dockerInitialized=healthy,
            dockerInitializationFailed=not healthy,
            dockerStatus="connected"
            if healthy
            else f"error: {health.get('error') or 'launcher unavailable'}",
            openviduImage=f"{settings.docker_image}:{settings.docker_image_tag}",
            stormGuard=StormGuardView(
                engaged=guard.storm,
                since=iso(guard.storm_since),
                lastEndedAt=iso(guard.calm_since),
                share=settings.storm_share,
                minSessions=settings.storm_min_sessions,
                minHosts=settings.storm_min_hosts,
                takeoversPerSweep=settings.storm_takeovers_per_sweep,
                unheard=list(guard.unheard),
                s3QuietAfterSeconds=settings.s3_quiet_after_s,
            ),
            enabled=settings.failover_enabled,
            heartbeatTimeoutSeconds=settings.heartbeat_timeout_s,
            standbyPoolSize=settings.standby_pool_size,
            stuckChunkTimeoutSeconds=settings.stuck_chunk_timeout_s,
            checkIntervalMs=settings.check_interval_ms,
            heartbeatIntervalSeconds=settings.heartbeat_interval_s,
            chunkTimeSizeSeconds=settings.chunk_time_size_s,
            startGraceSeconds=settings.start_grace_s,
            backupStartTimeoutSeconds=settings.backup_start_timeout_s,
            maxAttempts=settings.max_failover_attempts,
            activeBackupContainers=len(backups),
            launcher=health,
            timestamp=stamp(),
        )

    @app.post(
        "/api/failover/check",
        tags=TAGS,
        summary="Run one detection sweep now",
        responses=declared(refusals={409: "Failover is disabled (APP_FAILOVER_ENABLED=false)"}),
    )
    def check() -> SweepReply:
        if not settings.failover_enabled:
            raise FailoverDisabled("Failover is disabled")  # the original's words
        failover = engine()
        report: SweepReport = failover.sweep()
        _, healthy, running = launcher_state(failover)
        return SweepReply(
            message="Manual failover check completed",
            activeBackupContainers=len(running),
            dockerInitialized=healthy,
            candidates=report.candidates,
            staleSessions=report.stale,
            takeovers=[asdict(t) for t in report.takeovers],
            lostRaces=report.lostRaces,
            failedSessions=report.failed,
            stormGuard=report.storm,
            held=report.held,
            unheard=report.unheard,
            seconds=round(report.seconds, 4),
            timestamp=stamp(),
        )

    @app.get("/api/failover/backups", tags=TAGS, summary="The backup recorders that are running")
    def backups() -> BackupsReply:
        running = [BackupView.of(b) for b in engine().launcher.list()]
        return BackupsReply(
            activeBackupContainers=by_session(running), backups=running, count=len(running), timestamp=stamp()
        )

    def stop(session_id: str, force: bool) -> BackupStopReply:
        info = engine().stop_backup(session_id, force=force)
        return BackupStopReply(
            message="Backup container force stopped" if force else "Backup container stopped gracefully",
            method="force" if force else "graceful",
            sessionId=session_id,
            backup=BackupView.of(info) if info else None,
            timestamp=stamp(),
        )

    @app.delete(
        "/api/failover/backup/<sessionId>",
        tags=TAGS,
        summary="Stop a session's backup gracefully",
        responses=declared(refusals=NO_BACKUP),
    )
    def stop_gracefully(sessionId: SessionId) -> BackupStopReply:
        return stop(sessionId, force=False)

    @app.delete(
        "/api/failover/backup/<sessionId>/force",
        tags=TAGS,
        summary="Stop a session's backup at once",
        responses=declared(refusals=NO_BACKUP),
    )
    def stop_now(sessionId: SessionId) -> BackupStopReply:
        return stop(sessionId, force=True)

    @app.post(
        "/api/sessions/<sessionId>/handover",
        tags=TAGS,
        summary="Hand a recording over to a new recorder, make-before-break (no gap)",
        description=(
            "A new recorder (a warm standby when there is one) starts beside the one recording; once "
            "its first chunk is durable it owns the session, and the old one is fenced and stops by "
            "itself. Nothing is fenced before: a handover that does not complete in "
            "APP_FAILOVER_BACKUP_START_TIMEOUT is abandoned and the old recorder records on."
        ),
        responses=declared(
            202,
            "Begun: the new recorder is starting",
            refusals={404: "No session with this id", 409: "Not RECORDING, or being handed over already"},
            r502={"description": "Begun, but the launcher failed: abandoned at the next sweep"},
        ),
    )
    def hand_over(sessionId: SessionId) -> Response[TakeoverReply]:
        return started(engine().hand_over(sessionId), "Handover")

    def started(takeover: Takeover, what: str) -> Response[TakeoverReply]:
        reply = TakeoverReply(
            message=f"{what} started" if takeover.outcome == "launched" else f"{what} {takeover.outcome}",
            sessionId=takeover.sessionId,
            reason=takeover.reason,
            epoch=takeover.epoch,
            startChunk=takeover.startChunk,
            outcome=takeover.outcome,
            backupContainerId=takeover.launcherRef,
            detail=takeover.detail,
            timestamp=stamp(),
        )
        # launched: 202; the launcher failed: 502 (claimable again); attempts exhausted, now FAILED: 409
        status = {"launched": 202, "launch-failed": 502}.get(takeover.outcome, 409)
        return Response(status, "application/json", reply)

    @app.post(
        "/api/failover/<sessionId>",
        tags=TAGS,
        summary="Take a session over now (manual failover)",
        responses=declared(
            202,
            "Claimed and launched",
            refusals={404: "No session with this id"},
            r409=TAKEOVER_REFUSED,
            r502={"description": "Claimed, but the launcher failed: the session can be claimed again"},
        ),
    )
    def take_over(sessionId: SessionId) -> Response[TakeoverReply]:
        return started(engine().take_over(sessionId), "Takeover")
