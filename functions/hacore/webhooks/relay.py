"""Delivering one queued webhook to its endpoint, and deciding what happens when it fails.

2xx: delivered. A timeout, a connection error, 408, 429 or 5xx: retried with exponential
backoff and jitter, through the message's visibility timeout, until the configured number
of attempts; then the message goes to the DLQ with its last error. Any other answer (other
4xx, 3xx): straight to the DLQ with the reason. Each attempt is counted in the statistics.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from hacore.metrics import MetricSink, NoMetrics
from hacore.settings import Settings
from hacore.webhooks.effects import SessionEffects
from hacore.webhooks.endpoints import Endpoint
from hacore.webhooks.events import parse_event
from hacore.webhooks.ingest import Envelope
from hacore.webhooks.outcome import CustomerTerminal
from hacore.webhooks.signing import sign
from hacore.webhooks.stats import RelayStats

log = logging.getLogger("hacore.relay")
RETRYABLE_STATUS = {408, 429}


class RetryLater(Exception):
    """The message stays in the queue and comes back after its (already extended) visibility timeout."""


@dataclass
class Attempt:
    retryable: bool
    error: str | None
    status: int | None = None


def backoff_seconds(settings: Settings, attempt: int, rng: Callable[[], float] = random.random) -> int:
    """Exponential in the attempt number from OPENVIDU_WEBHOOK_RETRY_DELAY, capped, with jitter (50-100%)."""
    base = settings.webhook_retry_delay_ms / 1000 * 2 ** (attempt - 1)
    return max(0, min(settings.webhook_max_backoff_s, round(base * (0.5 + rng() / 2))))


class Relay:
    def __init__(
        self,
        settings: Settings,
        endpoints: list[Endpoint],
        sqs: Any,
        stats: RelayStats,
        effects: SessionEffects | None,
        http: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        terminal: CustomerTerminal | None = None,
        metrics: MetricSink | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or NoMetrics()
        self.terminal = terminal
        self.endpoints = {e.name: e for e in endpoints}
        self.sqs = sqs
        self.stats = stats
        self.effects = effects
        self.http = http or requests.Session()
        self.clock = clock

    def process(self, body: str, attempt: int, receipt_handle: str) -> str:
        """Handles one SQS message; raises RetryLater to leave it in the queue. Returns the outcome."""
        try:
            envelope = Envelope.from_message(body)
        except (ValueError, KeyError, TypeError) as error:
            self._dead_letter({"raw": body}, f"not a webhook envelope: {error}", attempt)
            return "dead-lettered"
        if envelope.apply_effects and attempt == 1:
            self.stats.received()  # counted here, once per webhook, to keep the ingest path short
        event = parse_event(envelope.body_text())
        try:
            if envelope.apply_effects and self.effects is not None:
                self.effects.apply(event)
            # OpenVidu's ready/failed may be held back or replaced: the customer gets one terminal
            verdict = (
                self.terminal.verdict(event, event.model_dump() if event else None, envelope.id)
                if self.terminal is not None
                else "relay"
            )
        except Exception as error:  # the session store is down: retry the whole message later
            log.warning("session effects of %s failed: %s", envelope.id, error)
            self._retry_later(envelope, attempt, receipt_handle)
        if verdict != "relay":
            return {"hold": "held back", "drop": "dropped: terminal already sent", "replace": "replaced"}[
                verdict
            ]
        endpoint = self.endpoints.get(envelope.endpoint or "")
        if endpoint is None:
            return "no endpoint"
        result = self._deliver(envelope, endpoint)
        if result.error is None:
            latency_ms = (self.clock() - envelope.received_at) * 1000
            self.stats.delivered(latency_ms)
            self.metrics.add_metric(name="WebhooksDelivered", unit="Count", value=1)
            self.metrics.add_metric(name="WebhookDeliveryLatency", unit="Milliseconds", value=latency_ms)
            return "delivered"
        self.stats.attempt_failed()
        self.metrics.add_metric(name="WebhookAttemptsFailed", unit="Count", value=1)
        if result.retryable and attempt < self.settings.webhook_retry_attempts:
            self._retry_later(envelope, attempt, receipt_handle, result.error)
        reason = (
            result.error
            if not result.retryable
            else (f"gave up after {attempt} attempt(s); last: {result.error}")
        )
        self._dead_letter(envelope.to_dict(), reason, attempt, result.status)
        return "dead-lettered"

    def _deliver(self, envelope: Envelope, endpoint: Endpoint) -> Attempt:
        body = envelope.body_bytes()
        headers = {
            "Content-Type": envelope.content_type or "application/json",
            "User-Agent": "openvidu-ha-recorder-relay/1.0",
            **endpoint.headers,
        }
        if self.settings.webhook_signing_secret is not None:
            stamp = int(self.clock())
            headers |= {
                "webhook-id": envelope.id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(
                    self.settings.webhook_signing_secret.get_secret_value(), envelope.id, stamp, body
                ),
            }
        try:
            reply = self.http.request(
                endpoint.method or envelope.method,
                endpoint.url,
                data=body,
                headers=headers,
                timeout=self.settings.webhook_timeout_ms / 1000,
                allow_redirects=False,
            )
        except requests.Timeout:
            return Attempt(True, f"timed out after {self.settings.webhook_timeout_ms} ms")
        except requests.RequestException as error:
            return Attempt(True, f"{type(error).__name__}: {str(error)[:200]}")
        if 200 <= reply.status_code < 300:
            return Attempt(False, None, reply.status_code)
        retryable = reply.status_code in RETRYABLE_STATUS or reply.status_code >= 500
        return Attempt(retryable, f"HTTP {reply.status_code}: {reply.text[:200]}", reply.status_code)

    def _retry_later(
        self, envelope: Envelope, attempt: int, receipt_handle: str, error: str | None = None
    ) -> None:
        delay = backoff_seconds(self.settings, attempt)
        self.sqs.change_message_visibility(
            QueueUrl=self.settings.webhook_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
        )
        raise RetryLater(f"{envelope.id}: attempt {attempt} failed ({error}); next in {delay}s")

    def _dead_letter(
        self, data: dict[str, Any], reason: str, attempt: int, status: int | None = None
    ) -> None:
        """Into the DLQ with the reason. If this send fails, the message stays in the main queue."""
        record = {
            **data,
            "lastError": reason,
            "attempts": attempt,
            "lastStatus": status,
            "deadAt": self.clock(),
        }
        self.sqs.send_message(QueueUrl=self.settings.webhook_dlq_url, MessageBody=json.dumps(record))
        self.stats.dead_lettered()
        self.metrics.add_metric(name="WebhooksDeadLettered", unit="Count", value=1)
        log.error("webhook %s dead-lettered: %s", data.get("id"), reason)
