"""`/api/standbys` routes: what a warm standby recorder says and asks (register, poll, accept),
and the pool for operators. The rules are `hacore.standby.rules`; these only parse and reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict, Field

from hacore.standby.rules import Assignment, StandbyRecord, StandbyStatus, accept, register, seen
from hacore.standby.store import StandbyStore

StandbyId = Annotated[
    str, Path(description="The standby's id (its STANDBY_ID)", min_length=1, max_length=128)
]
TAGS = ["standbys"]


class StandbyRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    standbyId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    host: str | None = Field(None, max_length=255)


class Acceptance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sessionId: str = Field(min_length=1, max_length=256)
    epoch: int = Field(ge=1)


class StandbyView(BaseModel):
    standbyId: str
    status: StandbyStatus
    host: str | None
    registeredAt: float
    lastSeenAt: float
    sessionId: str | None
    epoch: int | None

    @classmethod
    def of(cls, record: StandbyRecord) -> StandbyView:
        given = record.assignment
        return cls(
            standbyId=record.standbyId,
            status=record.status,
            host=record.host,
            registeredAt=record.registeredAt,
            lastSeenAt=record.lastSeenAt,
            sessionId=given.sessionId if given else None,
            epoch=given.epoch if given else None,
        )


class StandbyPoolView(BaseModel):
    standbys: list[StandbyView]
    idle: int


def add_standby_routes(
    app: APIGatewayHttpResolver,
    store: Callable[[], StandbyStore | None],
    clock: Callable[[], float],
    silent_after: float,
) -> None:
    def table() -> StandbyStore:
        standbys = store()
        if standbys is None:
            from hacore.errors import DomainError

            raise DomainError("this controller has no standby pool (STANDBY_TABLE is not set)")
        return standbys

    @app.post("/api/standbys", tags=TAGS, summary="A warm standby says it is ready")
    def register_standby(request: Annotated[StandbyRegistration, Body()]) -> Response[StandbyView]:
        record = table().mutate(
            request.standbyId,
            lambda current, now: register(current, request.standbyId, request.host, None, now),
            create=True,
        )
        return Response(201, "application/json", StandbyView.of(record))

    @app.get("/api/standbys", tags=TAGS, summary="The standby pool")
    def list_standbys() -> StandbyPoolView:
        now = clock()
        records = table().all()
        return StandbyPoolView(
            standbys=[StandbyView.of(r) for r in records],
            idle=sum(1 for r in records if r.available(now, silent_after)),
        )

    @app.get(
        "/api/standbys/<standbyId>/assignment",
        tags=TAGS,
        summary="A standby's poll: 200 with its session, 204 nothing yet, 410 exit",
        responses={
            200: {
                "description": "The session to take over",
                "content": {"application/json": {"model": Assignment}},
            },
            204: {"description": "Nothing yet: poll again"},
            410: {"description": "Retired or unknown: exit without recording"},
        },
    )
    def poll(standbyId: StandbyId) -> Response[dict[str, Any] | str]:
        record = table().mutate(standbyId, lambda current, now: seen(current, now))  # type: ignore[arg-type]
        if record.status is StandbyStatus.ASSIGNED and record.assignment is not None:
            return Response(200, "application/json", record.assignment.model_dump(mode="json"))
        return Response(204, None, "")  # nothing yet, and no body at all (a kept-alive client reads none)

    @app.put(
        "/api/standbys/<standbyId>/accept",
        tags=TAGS,
        summary="A standby takes its assigned session (409: it must not record)",
    )
    def accept_assignment(standbyId: StandbyId, request: Annotated[Acceptance, Body()]) -> StandbyView:
        record = table().mutate(
            standbyId,
            lambda current, now: accept(current, request.sessionId, request.epoch, now),  # type: ignore[arg-type]
        )
        return StandbyView.of(record)
