"""`/api/hosts` routes: a media node drained before it goes (`hacore.failover.drains`).

`POST /api/hosts/{host}/drain` hands every live recording the node's recorders own over,
make-before-break, a few at a time; every sweep carries the drain on until the node records
nothing. `GET /api/hosts/{host}` says where a node stands. `host` is the name the node's
recorders register (`clientHost`) or its EC2 instance id. `PUT /api/hosts/{host}/heartbeat` is
the node's watcher beating for it (`hacore.failover.nodes`: what the storm guard makes of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel

from api.documented import declared
from hacore.models import iso

if TYPE_CHECKING:  # the engine is built on the route's first call
    from hacore.failover.drains import DrainReport
    from hacore.failover.engine import FailoverEngine

Host = Annotated[
    str,
    Path(
        description="the media node: the name its recorders register (clientHost), or its EC2 instance id",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$",
    ),
]
TAGS = ["hosts"]


class NodeBeatReply(BaseModel):
    host: str
    lastSeenAt: str
    timestamp: str


class HostReply(BaseModel):
    host: str
    draining: bool  # a drain is under way; false once the node records nothing
    empty: bool  # the node's recorders own no live recording: it may go
    live: int  # live recordings the node's recorders own
    handingOver: int  # of those, with a handover under way
    waiting: int  # of those, still to be handed over (a few at a time)
    startedNow: list[str]  # handovers this request began
    watcherSeenAt: str | None = None  # the node's watcher's last heartbeat (None: never heard)
    timestamp: str


def add_host_routes(
    app: APIGatewayHttpResolver, engine: Callable[[], FailoverEngine], clock: Callable[[], float]
) -> None:
    def reply(report: DrainReport) -> HostReply:
        seen = iso(engine().nodes.last_seen(report.host))
        return HostReply(
            **asdict(report), empty=report.empty, watcherSeenAt=seen, timestamp=iso(clock()) or ""
        )

    @app.post(
        "/api/hosts/<host>/drain",
        tags=TAGS,
        summary="Drain a media node: hand its live recordings over, make-before-break, a few at a time",
        responses=declared(
            description="Nothing to drain: the node records nothing", r202={"description": "Draining"}
        ),
    )
    def drain(host: Host) -> Response[HostReply]:
        report = engine().drains.start(host)
        return Response(202 if report.draining else 200, "application/json", reply(report))

    @app.put("/api/hosts/<host>/heartbeat", tags=TAGS, summary="A media node's watcher beats for its node")
    def node_heartbeat(host: Host) -> NodeBeatReply:
        node = engine().nodes.beat(host)
        return NodeBeatReply(host=host, lastSeenAt=iso(node.lastSeenAt) or "", timestamp=iso(clock()) or "")

    @app.get("/api/hosts/<host>", tags=TAGS, summary="A media node: its live recordings, and its drain")
    def show(host: Host) -> HostReply:
        return reply(engine().drains.status(host))
