"""The OpenVidu 2.x webhook events this controller acts on; every other event is relayed untouched."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class OpenViduEvent(BaseModel):
    """The fields we read; OpenVidu sends more, and the relay forwards the body byte for byte."""

    model_config = ConfigDict(extra="allow")

    event: str | None = None
    id: str | None = None
    sessionId: str | None = None
    uniqueSessionId: str | None = None
    status: str | None = None
    reason: str | None = None
    timestamp: int | float | None = None

    @property
    def recording_status(self) -> str | None:
        """`stopped`, `ready`, `failed`... for recordingStatusChanged events with a recording id."""
        if self.event == "recordingStatusChanged" and self.id and self.status:
            return self.status.lower()
        return None


def parse_event(body: str | None) -> OpenViduEvent | None:
    """The event in a webhook body, or None when the body is not an OpenVidu JSON event (still relayed)."""
    if not body:
        return None
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return OpenViduEvent.model_validate(data)
    except ValidationError:
        return None


def recording_order_key(recording_id: str) -> str:
    """The order key of one recording's events (the relay's FIFO group, the journal's partition)."""
    return f"rec:{recording_id}"


def order_key(event: OpenViduEvent | None) -> str | None:
    """What the relay keeps in order: one recording's events (its id), else one session's."""
    if event is None:
        return None
    if event.event == "recordingStatusChanged" and event.id:
        return recording_order_key(event.id)
    return f"ses:{event.sessionId}" if event.sessionId else None
