"""Webhook ingest: the request becomes SQS messages before OpenVidu hears 200.

A message keeps the body byte for byte (base64 when it is not text), the method and the
content type, and the id that becomes `webhook-id` on every delivery attempt. There is one
message per endpoint that wants the event, so one endpoint being down never delays another.

The queue is FIFO, grouped by endpoint and recording (`order_key`: the recording id, else the
OpenVidu session id): one recording's webhooks reach an endpoint in the order they came, and
one that waits holds back only its own recording's later ones. A standard queue (a stack from
before) still works, without that order.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from hacore.errors import QueueUnavailable
from hacore.settings import Settings
from hacore.webhooks.endpoints import Endpoint

__all__ = ["Envelope", "Ingest", "QueueUnavailable"]


@dataclass(frozen=True)
class Envelope:
    """One webhook for one endpoint. `id` is shared by every endpoint's copy and every attempt."""

    id: str
    received_at: float
    method: str
    content_type: str
    body: str
    base64: bool
    endpoint: str | None = None
    apply_effects: bool = True
    group: str | None = None  # the FIFO message group: endpoint and recording
    redriven: int = 0  # times moved back from the DLQ: each time, a fresh retry schedule

    @property
    def turns_key(self) -> str:
        return f"{self.id}#{self.redriven}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "receivedAt": self.received_at,
            "method": self.method,
            "contentType": self.content_type,
            "body": self.body,
            "base64": self.base64,
            "endpoint": self.endpoint,
            "applyEffects": self.apply_effects,
            "group": self.group,
            "redriven": self.redriven,
        }

    def to_message(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        return cls(
            data["id"],
            data["receivedAt"],
            data["method"],
            data["contentType"],
            data["body"],
            data["base64"],
            data.get("endpoint"),
            data.get("applyEffects", True),
            data.get("group"),
            data.get("redriven", 0),
        )

    @classmethod
    def from_message(cls, text: str) -> Envelope:
        return cls.from_dict(json.loads(text))

    def body_bytes(self) -> bytes:
        return base64.b64decode(self.body) if self.base64 else self.body.encode()

    def body_text(self) -> str | None:
        try:
            return self.body_bytes().decode()
        except UnicodeDecodeError:
            return None


def fifo_id(text: str) -> str:
    """A FIFO group or deduplication id: at most 128 of SQS's allowed characters."""
    cleaned = re.sub(r"[^A-Za-z0-9!-/:-@\[-`{-~]", "_", text)
    return (
        cleaned
        if len(cleaned) <= 128
        else cleaned[:87] + "#" + hashlib.sha256(text.encode()).hexdigest()[:40]
    )


def fifo_fields(queue_url: str | None, envelope: Envelope, dedup_suffix: str = "") -> dict[str, str]:
    """SendMessage's group and deduplication ids on a FIFO queue; nothing on a standard one."""
    if not (queue_url or "").endswith(".fifo"):
        return {}
    return {
        "MessageGroupId": fifo_id(envelope.group or f"{envelope.endpoint or '-'}/{envelope.id}"),
        "MessageDeduplicationId": fifo_id(f"{envelope.id}/{envelope.endpoint or '-'}{dedup_suffix}"),
    }


class Ingest:
    """One message per endpoint that wants the event (one with no endpoint when none does, so the
    worker still applies the session effects); only the first copy carries the effects."""

    def __init__(self, sqs: Any, settings: Settings, endpoints: list[Endpoint]) -> None:
        self._sqs = sqs
        self._settings = settings
        self._endpoints = endpoints

    def accept(
        self,
        method: str,
        content_type: str,
        body: str,
        is_base64: bool,
        event_type: str | None,
        webhook_id: str | None = None,
        effects: bool = True,
        order_key: str | None = None,
    ) -> Envelope:
        """Queues one webhook. Ours (a synthesized terminal) comes with its own id and no effects.
        Webhooks with the same `order_key` (a recording) reach each endpoint in order."""
        if not self._settings.webhook_queue_url:
            raise QueueUnavailable("WEBHOOK_QUEUE_URL is not configured")
        first = Envelope(webhook_id or uuid.uuid4().hex, time.time(), method, content_type, body, is_base64)
        names: list[str | None] = [e.name for e in self._endpoints if e.wants(event_type)] or [None]
        copies = [
            replace(
                first,
                endpoint=name,
                apply_effects=effects and n == 0,
                group=f"{name or '-'}/{order_key or first.id}",
            )
            for n, name in enumerate(names)
        ]
        url = self._settings.webhook_queue_url
        try:
            for start in range(0, len(copies), 10):
                entries = [
                    {"Id": str(n), "MessageBody": c.to_message(), **fifo_fields(url, c)}
                    for n, c in enumerate(copies[start : start + 10])
                ]
                reply = self._sqs.send_message_batch(QueueUrl=url, Entries=entries)
                if reply.get("Failed"):
                    raise QueueUnavailable(
                        f"SQS refused {len(reply['Failed'])} message(s): {reply['Failed'][0]}"
                    )
        except QueueUnavailable:
            raise
        except Exception as error:  # any failure to enqueue means: not accepted
            raise QueueUnavailable(f"{type(error).__name__}: {error}") from error
        return copies[0]
