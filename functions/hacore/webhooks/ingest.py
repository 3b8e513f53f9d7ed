"""Webhook ingest: the request becomes one SQS message before OpenVidu hears 200.

The message keeps the body byte for byte (base64 when it is not text), the method and the
content type, and gets the id that becomes `webhook-id` on every delivery attempt.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from hacore.settings import Settings


class QueueUnavailable(Exception):
    """SQS did not take the message: the caller must not say 200."""


@dataclass(frozen=True)
class Envelope:
    id: str
    received_at: float
    method: str
    content_type: str
    body: str
    base64: bool

    def to_message(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "receivedAt": self.received_at,
                "method": self.method,
                "contentType": self.content_type,
                "body": self.body,
                "base64": self.base64,
            }
        )

    @classmethod
    def from_message(cls, text: str) -> Envelope:
        data = json.loads(text)
        return cls(
            data["id"], data["receivedAt"], data["method"], data["contentType"], data["body"], data["base64"]
        )

    def body_bytes(self) -> bytes:
        return base64.b64decode(self.body) if self.base64 else self.body.encode()

    def body_text(self) -> str | None:
        try:
            return self.body_bytes().decode()
        except UnicodeDecodeError:
            return None


def inbound_token_ok(settings: Settings, headers: dict[str, str]) -> bool:
    """With OPENVIDU_WEBHOOK_INBOUND_TOKEN set, OpenVidu must send it (in its OPENVIDU_WEBHOOK_HEADERS)
    as `Authorization: Bearer <token>` or `X-Webhook-Token: <token>`; compared in constant time."""
    if settings.webhook_inbound_token is None:
        return True
    expected = settings.webhook_inbound_token.get_secret_value().encode()
    lowered = {k.lower(): v for k, v in headers.items()}
    bearer = lowered.get("authorization", "")
    offered = bearer[7:] if bearer.lower().startswith("bearer ") else lowered.get("x-webhook-token", "")
    return hmac.compare_digest(offered.strip().encode(), expected)


class Ingest:
    def __init__(self, sqs: Any, settings: Settings) -> None:
        self._sqs = sqs
        self._settings = settings

    def accept(self, method: str, content_type: str, body: str, is_base64: bool) -> Envelope:
        envelope = Envelope(uuid.uuid4().hex, time.time(), method, content_type, body, is_base64)
        if not self._settings.webhook_queue_url:
            raise QueueUnavailable("WEBHOOK_QUEUE_URL is not configured")
        try:
            self._sqs.send_message(
                QueueUrl=self._settings.webhook_queue_url, MessageBody=envelope.to_message()
            )
        except Exception as error:  # any failure to enqueue means: not accepted
            raise QueueUnavailable(f"{type(error).__name__}: {error}") from error
        return envelope
