"""`/api/recorders` routes: what a media node's watcher (`python -m recorder watch`) reports.

A recording container that died is reported the instant its engine says so; the takeover is
claimed in the same conditional write as any other, by the same rule as ECS's task-stopped event
(`hacore.failover.rules.exit_needs_takeover`): only the recorder that owns a live session, only
an unclean exit. Anything else is answered 200 with `takenOver` false: nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, Field, field_validator

from api.documented import declared
from api.shapes import PADDED_SESSION_ID, StrictRequest, valid_session_id
from hacore.failover.rules import RecorderStopped
from hacore.models import EpochNumber, Integer, iso

if TYPE_CHECKING:  # the engine is built on the route's first call
    from hacore.failover.engine import FailoverEngine


class RecorderExit(StrictRequest):
    """One recording container that exited, as its media node's engine reported it."""

    sessionId: str = Field(max_length=128, json_schema_extra={"pattern": PADDED_SESSION_ID})
    ref: str = Field(min_length=1, max_length=256, description="the container's id")
    exitCode: Integer | None = Field(None, description="none: killed before it could exit")
    epoch: EpochNumber = Field(description="the recorder's EPOCH (OpenVidu's own recorder: 1)")
    host: str | None = Field(None, max_length=256, description="the media node")

    @field_validator("sessionId")
    @classmethod
    def _session_id(cls, value: str) -> str:
        return valid_session_id(value)


class ExitReply(BaseModel):
    message: str
    sessionId: str
    takenOver: bool
    epoch: int | None = None
    startChunk: str | None = None
    outcome: str | None = None
    backupContainerId: str | None = None
    timestamp: str


def add_recorder_routes(
    app: APIGatewayHttpResolver, engine: Callable[[], FailoverEngine], clock: Callable[[], float]
) -> None:
    @app.post(
        "/api/recorders/exited",
        tags=["failover"],
        summary="A recording container exited (a media node's watcher): taken over at once if it owned one",
        responses=declared(description="Nothing to take over", r202={"description": "Claimed and launched"}),
    )
    def recorder_exited(report: Annotated[RecorderExit, Body()]) -> Response[ExitReply]:
        stopped = RecorderStopped(report.ref, report.sessionId, report.exitCode, False, report.epoch)
        takeover = engine().on_recorder_stopped(stopped)
        reply = ExitReply(
            message="Taken over" if takeover is not None else "Nothing to take over",
            sessionId=report.sessionId,
            takenOver=takeover is not None,
            epoch=takeover.epoch if takeover else None,
            startChunk=takeover.startChunk if takeover else None,
            outcome=takeover.outcome if takeover else None,
            backupContainerId=takeover.launcherRef if takeover else None,
            timestamp=iso(clock()) or "",
        )
        return Response(202 if takeover is not None else 200, "application/json", reply)
