"""`/api/webhooks/dlq`: what sits in the dead-letter queue and why, and moving it back for delivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from hacore.models import iso

if TYPE_CHECKING:  # built on a DLQ route's first call
    from hacore.webhooks.dlq import DeadLetters

TAGS = ["webhooks"]


class RedriveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] | None = Field(None, description="webhook ids to move back; absent: all of them")


class DeadLetterList(BaseModel):
    messages: list[dict[str, Any]]
    count: int
    timestamp: str


class RedriveReply(BaseModel):
    message: str
    moved: list[str]
    count: int
    timestamp: str


def add_webhook_routes(
    app: APIGatewayHttpResolver, dead_letters: Callable[[], DeadLetters], clock: Callable[[], float]
) -> None:
    @app.get("/api/webhooks/dlq", tags=TAGS, summary="The dead-lettered webhooks, with their last error")
    def list_dead() -> DeadLetterList:
        messages = dead_letters().list()
        return DeadLetterList(messages=messages, count=len(messages), timestamp=iso(clock()) or "")

    @app.post("/api/webhooks/dlq/redrive", tags=TAGS, summary="Move dead-lettered webhooks back for delivery")
    def redrive(request: Annotated[RedriveRequest | None, Body()] = None) -> RedriveReply:
        wanted = set(request.ids) if request and request.ids is not None else None
        moved = dead_letters().redrive(wanted)
        return RedriveReply(
            message=f"{len(moved)} webhook(s) moved back for delivery",
            moved=moved,
            count=len(moved),
            timestamp=iso(clock()) or "",
        )
