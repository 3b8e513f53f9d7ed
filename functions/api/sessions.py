"""`/api/sessions` routes, exactly as the original controller answered them.

Each route parses (powertools + pydantic do that), calls the store, shapes the reply.
Static paths are registered before `/<sessionId>` so that `all`, `inactive`, `health`
and `cleanup` are never taken for session ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from api.documented import declared, either
from api.shapes import (
    ActiveReply,
    AllSessions,
    CleanupReply,
    FinalReply,
    HealthReply,
    HeartbeatReply,
    HeartbeatRequest,
    MessageReply,
    RecordingPathReply,
    RecordingPathRequest,
    RegisterRequest,
    SessionList,
    SessionView,
    StatusReply,
    StatusRequest,
)
from hacore.metrics import MetricSink, NoMetrics, media_lost_seconds
from hacore.models import FinalReport, SessionRecord, Status, iso, parse_status
from hacore.sessions.rules import HandoverReady, always_ready
from hacore.sessions.store import SessionStore
from hacore.settings import Settings

if TYPE_CHECKING:  # built on the final report's first call
    from hacore.webhooks.outcome import CustomerTerminal


def capture_restarts_metric(metrics: MetricSink, added: int, session_id: str) -> None:
    """Restarts inside recorders, of ffmpeg or of the capture stack (X, PulseAudio, the browser,
    page reloads). A climbing figure is a sick media node or a sick layout page."""
    metrics.add_metric(name="CaptureRestarts", unit="Count", value=added, metadata={"sessionId": session_id})


SessionId = Annotated[str, Path(description="OpenVidu's recording id (the recorder's VIDEO_ID)")]
TAGS = ["sessions"]
UNKNOWN = {404: "No session with this id"}
FENCED = {409: "The epoch sent is not the session's: this recorder no longer owns it and must stop"}
BUSY = {503: "The session kept changing under this request: retry (`retryable` is true)"}
UNHEALTHY = either(
    "unhealthy: the store is unreachable (or, our bug, a reply that broke its own schema)",
    "HealthReply",
    "ResponseValidationError",
)
QUEUE_DOWN = {503: "The session kept changing, or the webhook queue is unavailable: report again"}


def s3_cleanup_info(settings: Settings) -> str:
    """The original's one line on chunk cleanup, for operators' dashboards."""
    where = f"bucket {settings.s3_bucket or '(none)'}, endpoint {settings.s3_endpoint or 'AWS default'}"
    if settings.delete_chunks_after_final:
        return f"S3 chunk cleanup enabled: chunks deleted once the final file is stored ({where})"
    return f"S3 chunk cleanup disabled: chunks stay after the final file ({where})"


def add_session_routes(
    app: APIGatewayHttpResolver,
    store: SessionStore,
    clock: Callable[[], float],
    terminal: Callable[[], CustomerTerminal],
    settings: Settings,
    metrics: MetricSink | None = None,
    handed_over: Callable[[SessionRecord], None] | None = None,
    handover_ready: HandoverReady = always_ready,
) -> None:
    """`handed_over`: what follows a heartbeat that completed a handover (the old epoch's fence);
    `handover_ready`: whether a handover's recorder may own the session yet (S3's answer)."""
    metrics = metrics or NoMetrics()

    def stamp() -> str:
        return iso(clock()) or ""

    @app.post(
        "/api/sessions",
        tags=TAGS,
        summary="Register a recording session",
        responses=declared(201, "Registered: the session"),
    )
    def register(request: Annotated[RegisterRequest, Body()]) -> Response[SessionView]:
        record = store.register(request)
        return Response(201, "application/json", SessionView.of(record))

    @app.get("/api/sessions", tags=TAGS, summary="List the active sessions")
    def list_active() -> SessionList:
        sessions = [SessionView.of(r) for r in store.list(active=True)]
        return SessionList(sessions=sessions, count=len(sessions), type="active", timestamp=stamp())

    @app.get("/api/sessions/all", tags=TAGS, summary="List every session")
    def list_all() -> AllSessions:
        records = store.list_all()
        active = sum(1 for r in records if r.active)
        return AllSessions(
            sessions=[SessionView.of(r) for r in records],
            totalCount=len(records),
            activeCount=active,
            inactiveCount=len(records) - active,
            timestamp=stamp(),
        )

    @app.get("/api/sessions/inactive", tags=TAGS, summary="List the inactive sessions")
    def list_inactive() -> SessionList:
        sessions = [SessionView.of(r) for r in store.list(active=False)]
        return SessionList(sessions=sessions, count=len(sessions), type="inactive", timestamp=stamp())

    @app.get(
        "/api/sessions/health",
        tags=TAGS,
        summary="Health of the session store (no auth)",
        responses=declared(description="healthy", r500=UNHEALTHY),
        custom_response_validation_http_code=500,  # so that powertools keeps this route's own 500
    )
    def health() -> Response[HealthReply]:
        try:
            active, inactive = store.counts()
        except Exception as error:  # the contract answers 500 "unhealthy", never a stack trace
            unhealthy = HealthReply(status="unhealthy", error=type(error).__name__, timestamp=stamp())
            return Response(500, "application/json", unhealthy)
        healthy = HealthReply(
            status="healthy",
            activeSessions=active,
            inactiveSessions=inactive,
            totalSessions=active + inactive,
            s3CleanupInfo=s3_cleanup_info(settings),
            timestamp=stamp(),
        )
        return Response(200, "application/json", healthy)

    @app.post("/api/sessions/cleanup", tags=TAGS, summary="Remove the sessions past their TTL now")
    def cleanup() -> CleanupReply:
        return CleanupReply(removedSessions=store.cleanup(), timestamp=stamp())

    @app.get(
        "/api/sessions/<sessionId>", tags=TAGS, summary="One session", responses=declared(refusals=UNKNOWN)
    )
    def get_session(sessionId: SessionId) -> SessionView:
        return SessionView.of(store.get(sessionId))

    @app.get("/api/sessions/<sessionId>/active", tags=TAGS, summary="Whether a session is active")
    def is_active(sessionId: SessionId) -> ActiveReply:
        record = store.find(sessionId)
        return ActiveReply(sessionId=sessionId, active=bool(record and record.active), timestamp=stamp())

    @app.put(
        "/api/sessions/<sessionId>/heartbeat",
        tags=TAGS,
        summary="Heartbeat, with the newest stored chunk",
        responses=declared(refusals=UNKNOWN | FENCED | BUSY),
    )
    def heartbeat(
        sessionId: SessionId, beat: Annotated[HeartbeatRequest | None, Body()] = None
    ) -> HeartbeatReply:
        record = store.heartbeat(sessionId, beat or HeartbeatRequest(), handover_ready)
        if record.handed_over and handed_over is not None:
            handed_over(record)
        if record.restarts_added:
            capture_restarts_metric(metrics, record.restarts_added, sessionId)
        return HeartbeatReply(
            sessionId=sessionId,
            lastChunk=record.lastChunk,
            epoch=record.epoch,
            status=record.status,
            timestamp=stamp(),
        )

    @app.put(
        "/api/sessions/<sessionId>/deactivate",
        tags=TAGS,
        summary="Mark a session inactive",
        responses=declared(refusals=UNKNOWN | BUSY),
    )
    def deactivate(sessionId: SessionId) -> StatusReply:
        record = store.set_status(sessionId, Status.INACTIVE)
        return StatusReply(
            message="Session deactivated", sessionId=sessionId, status=record.status, timestamp=stamp()
        )

    @app.put(
        "/api/sessions/<sessionId>/status",
        tags=TAGS,
        summary="Set a session's status",
        responses=declared(refusals=UNKNOWN | BUSY),
    )
    def set_status(sessionId: SessionId, request: Annotated[StatusRequest, Body()]) -> StatusReply:
        record = store.set_status(sessionId, parse_status(request.status))
        return StatusReply(
            message="Session status updated", sessionId=sessionId, status=record.status, timestamp=stamp()
        )

    @app.put(
        "/api/sessions/<sessionId>/recording-path",
        tags=TAGS,
        summary="Set where the recording goes",
        responses=declared(refusals=UNKNOWN | BUSY),
    )
    def set_recording_path(
        sessionId: SessionId, request: Annotated[RecordingPathRequest, Body()]
    ) -> RecordingPathReply:
        record = store.set_recording_path(sessionId, request.recordingPath)
        return RecordingPathReply(
            message="Recording path updated",
            sessionId=sessionId,
            recordingPath=record.recordingPath or "",
            timestamp=stamp(),
        )

    @app.put(
        "/api/sessions/<sessionId>/final",
        tags=TAGS,
        summary="A recorder's final file: where it is and what it holds (the customer's `ready` follows)",
        responses=declared(refusals=UNKNOWN | FENCED | QUEUE_DOWN),
    )
    def report_final(sessionId: SessionId, request: Annotated[FinalReport, Body()]) -> FinalReply:
        record = terminal().report_final(sessionId, request)
        lost = media_lost_seconds(request.epochs, request.gaps)
        if lost is not None:  # what the failovers cost this recording, for the dashboard
            metrics.add_metric(
                name="MediaLostSeconds", unit="Seconds", value=lost, metadata={"sessionId": sessionId}
            )
        return FinalReply(
            message="Final file recorded",
            sessionId=sessionId,
            status=record.status,
            customerTerminal=record.terminal.status if record.terminal else None,
            timestamp=stamp(),
        )

    @app.put(
        "/api/sessions/<sessionId>/stop",
        tags=TAGS,
        summary="Stop a session (it goes to STOPPING)",
        responses=declared(refusals=UNKNOWN | BUSY),
    )
    def stop(sessionId: SessionId) -> MessageReply:
        store.set_status(sessionId, Status.STOPPING)
        return MessageReply(message="Session stopped", sessionId=sessionId, timestamp=stamp())

    @app.delete(
        "/api/sessions/<sessionId>",
        tags=TAGS,
        summary="Deregister a session (its chunks stay)",
        responses=declared(refusals=UNKNOWN),
    )
    def deregister(sessionId: SessionId) -> MessageReply:
        store.delete(sessionId)
        return MessageReply(message="Session removed", sessionId=sessionId, timestamp=stamp())
