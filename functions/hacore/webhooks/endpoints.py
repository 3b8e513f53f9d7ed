"""Where webhooks are relayed: OPENVIDU_WEBHOOK_ENDPOINT, plus optional extra endpoints, each with
its method, headers and an event-type filter."""

from __future__ import annotations

import json

from pydantic import BaseModel, Field, TypeAdapter

from hacore.settings import Settings


class Endpoint(BaseModel):
    name: str = "default"
    url: str = Field(pattern=r"^https?://")
    method: str | None = None  # None: the method OpenVidu used
    headers: dict[str, str] = Field(default_factory=dict)
    events: list[str] = Field(default_factory=list)  # empty: every event

    def wants(self, event_type: str | None) -> bool:
        return not self.events or event_type in self.events


def parse_headers(text: str | None) -> dict[str, str]:
    """The original's OPENVIDU_WEBHOOK_HEADERS: `Name:value,Name2:value2` (a value may hold colons)."""
    headers: dict[str, str] = {}
    for part in (text or "").split(","):
        name, separator, value = part.partition(":")
        if separator and name.strip():
            headers[name.strip()] = value.strip()
    return headers


def endpoints_from(settings: Settings) -> list[Endpoint]:
    found = []
    if settings.webhook_endpoint:
        found.append(
            Endpoint(
                url=settings.webhook_endpoint,
                method=settings.webhook_method,
                headers=parse_headers(settings.webhook_headers),
                events=settings.webhook_events,
            )
        )
    if settings.webhook_extra_endpoints:
        found.extend(
            TypeAdapter(list[Endpoint]).validate_python(json.loads(settings.webhook_extra_endpoints))
        )
    return found
