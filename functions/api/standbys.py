"""`/api/standbys` routes: what a warm standby recorder says and asks (register, poll, accept),
and the pool for operators. The rules are `hacore.standby.rules`; these only parse and reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict, Field

from api.documented import declared
from hacore.errors import DomainError
from hacore.models import Integer
from hacore.standby.rules import Assignment, StandbyRecord, StandbyStatus, accept, register, seen

if TYPE_CHECKING:  # built on a standby route's first call
    from hacore.standby.store import StandbyStore

StandbyId = Annotated[
    str, Path(description="The standby's id (its STANDBY_ID)", min_length=1, max_length=128)
]
TAGS = ["standbys"]
GONE = {410: "Retired or unknown: exit without recording"}
NO_POOL = {409: "This controller has no standby pool (STANDBY_TABLE is not set)"}


class NoStandbyPool(DomainError):
    """409: the controller's configuration, not the request, refuses."""

    status_code = 409


class StandbyRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    standbyId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    host: str | None = Field(None, max_length=255)


class Acceptance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sessionId: str = Field(min_length=1, max_length=256)
    epoch: Integer = Field(ge=1)


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
            raise NoStandbyPool("this controller has no standby pool (STANDBY_TABLE is not set)")
        return standbys

    @app.post(
        "/api/standbys",
        tags=TAGS,
        summary="A warm standby says it is ready",
        responses=declared(201, "Registered: the standby", refusals=NO_POOL),
    )
    def register_standby(request: Annotated[StandbyRegistration, Body()]) -> Response[StandbyView]:
        record = table().register(
            request.standbyId,
            lambda current, now: register(current, request.standbyId, request.host, None, now),
        )
        return Response(201, "application/json", StandbyView.of(record))

    @app.get("/api/standbys", tags=TAGS, summary="The standby pool", responses=declared(refusals=NO_POOL))
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
        responses=declared(
            refusals=GONE | NO_POOL,
            r200={
                "description": "The session to take over",
                "content": {"application/json": {"model": Assignment}},
            },
            r204={"description": "Nothing yet: poll again", "content": {}},
        ),
    )
    def poll(standbyId: StandbyId) -> Response[dict[str, Any] | str]:
        record = table().decide(standbyId, seen)
        if record.status is StandbyStatus.ASSIGNED and record.assignment is not None:
            return Response(200, "application/json", record.assignment.model_dump(mode="json"))
        return Response(204, None, "")  # nothing yet, and no body at all (a kept-alive client reads none)

    @app.put(
        "/api/standbys/<standbyId>/accept",
        tags=TAGS,
        summary="A standby takes its assigned session (409: it must not record)",
        responses=declared(
            refusals=GONE
            | {409: "It holds no such assignment (it must not record), or there is no standby pool"}
        ),
    )
    def accept_assignment(standbyId: StandbyId, request: Annotated[Acceptance, Body()]) -> StandbyView:
        record = table().decide(
            standbyId, lambda current, now: accept(current, request.sessionId, request.epoch, now)
        )
        return StandbyView.of(record)
