"""Delivering one queued webhook to its endpoint, and deciding what happens when it fails.

2xx: delivered. A timeout, a connection error, 408, 429 or 5xx: a failed attempt. The webhook
comes back after the next wait of the retry schedule (hacore.settings.retry_schedule), carried by its
visibility timeout; once the schedule is spent, it goes to the DLQ with its last error. Any
other answer (other 4xx, 3xx): straight to the DLQ with the reason.

While the endpoint is failing (nothing but failures for OPENVIDU_WEBHOOK_FAILING_AFTER) it is
probed, not hammered (hacore.webhooks.health): one attempt at a time, and a webhook whose turn
comes meanwhile is held (its turn is spent, no request is made) and parked. The probe that gets
an answer wakes every parked webhook, and, with OPENVIDU_WEBHOOK_AUTO_REDRIVE, redrives the
endpoint's dead letters that an outage put there. Each attempt is counted in the statistics and
the metrics.

A failing endpoint with nothing queued for it would never be tried again, and would stay
`failing` on the status route and in its alarm after it came back. So the detector probes it on
its own schedule (`probe_failing`, once per probe interval at most, under the same lease): a
`webhookProbe` event, signed like any webhook. Any answer that is not a failure by the rule
above (a 2xx, or a 4xx other than 408 and 429) means the endpoint is back.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from hacore.metrics import MetricSink, NoMetrics
from hacore.settings import Settings
from hacore.settings.retry_schedule import format_wait
from hacore.webhooks.effects import SessionEffects
from hacore.webhooks.endpoints import Endpoint
from hacore.webhooks.events import OpenViduEvent, parse_event
from hacore.webhooks.health import EndpointHealth, EndpointState
from hacore.webhooks.ingest import Envelope
from hacore.webhooks.journal import Journal
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


class Relay:
    def __init__(
        self,
        settings: Settings,
        endpoints: list[Endpoint],
        sqs: Any,
        stats: RelayStats,
        effects: SessionEffects | None,
        state: EndpointState,
        http: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        terminal: CustomerTerminal | None = None,
        metrics: MetricSink | None = None,
        redrive: Callable[[str], list[str]] | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.settings = settings
        self.schedule = settings.webhook_schedule
        self.metrics = metrics or NoMetrics()
        self.terminal = terminal
        self.endpoints = {e.name: e for e in endpoints}
        self.sqs = sqs
        self.stats = stats
        self.effects = effects
        self.state = state
        self.http = http or requests.Session()
        self.clock = clock
        self.redrive = redrive
        self.journal = journal

    @property
    def probe_interval_s(self) -> float:
        return self.schedule.real(self.settings.webhook_probe_interval_s)

    @property
    def max_age_s(self) -> float:
        """A webhook this old has outlived the schedule even behind its recording's earlier ones."""
        return 2 * self.schedule.span_s + self.schedule.real(3600)

    def process(self, body: str, attempt: int, receipt_handle: str) -> str:
        """Handles one SQS message (`attempt`: its receive count); raises RetryLater to leave it
        in the queue. Returns the outcome, which the journal keeps (`hacore.webhooks.journal`)."""
        try:
            envelope = Envelope.from_message(body)
        except (ValueError, KeyError, TypeError) as error:
            self._dead_letter({"raw": body}, f"not a webhook envelope: {error}", attempt)
            return "dead-lettered"  # nothing of a recording's to note
        event = parse_event(envelope.body_text())
        try:
            outcome = self._process(envelope, event, attempt, receipt_handle)
        except RetryLater as retry:
            self._note(envelope, event, "retrying", attempt, str(retry))
            raise
        self._note(envelope, event, outcome, attempt, None)
        return outcome

    def _note(
        self, envelope: Envelope, event: OpenViduEvent | None, state: str, attempt: int, detail: str | None
    ) -> None:
        if self.journal is not None:
            self.journal.note(envelope, event, state, attempt, detail)

    def _process(
        self, envelope: Envelope, event: OpenViduEvent | None, attempt: int, receipt_handle: str
    ) -> str:
        if envelope.apply_effects and attempt == 1:
            self.stats.received()  # counted here, once per webhook, to keep the ingest path short
        try:
            if envelope.apply_effects and self.effects is not None:
                self.effects.apply(event)
            # OpenVidu's ready/failed may be held back or replaced: the customer gets one terminal
            verdict = (
                self.terminal.verdict(event, event.model_dump() if event else None, envelope.id)
                if self.terminal is not None
                else "relay"
            )
        except Exception as error:  # the session store is down: try the whole message again soon
            log.warning("session effects of %s failed: %s", envelope.id, error)
            wait = self.schedule.wait_after(1) or 0
            self._change_visibility(receipt_handle, wait)
            raise RetryLater(f"{envelope.id}: session effects failed ({error})") from error
        if verdict != "relay":
            return {"hold": "held back", "drop": "dropped: terminal already sent", "replace": "replaced"}[
                verdict
            ]
        endpoint = self.endpoints.get(envelope.endpoint or "")
        if endpoint is None:
            return "no endpoint"
        now = self.clock()
        health = self.state.health(endpoint.name)
        head = health.dead.get(envelope.group or "")
        if head is not None:
            if head != envelope.id:  # its recording's earlier webhook is in the DLQ: wait behind it
                return self._park_behind(envelope, head)
            self.state.clear_dead(endpoint.name, envelope.group or "", head)  # it is back: in order
        lease_s = self.settings.webhook_timeout_ms / 1000 + 5
        if health.failing and not self.state.claim_probe(endpoint.name, now, lease_s):
            return self._hold(envelope, health, receipt_handle, now)
        result = self._deliver(envelope, endpoint)
        now = self.clock()
        if result.error is None:
            if health.failingSince is not None:  # a streak of failures ends here
                self._recovered(endpoint.name, now)
            latency_ms = (now - envelope.received_at) * 1000
            self.stats.delivered(latency_ms)
            self.metrics.add_metric(name="WebhooksDelivered", unit="Count", value=1)
            self.metrics.add_metric(name="WebhookDeliveryLatency", unit="Milliseconds", value=latency_ms)
            return "delivered"
        self.stats.attempt_failed()
        self.metrics.add_metric(name="WebhookAttemptsFailed", unit="Count", value=1)
        turns = self.state.count_turn(endpoint.name, envelope.turns_key, now)
        if not result.retryable:
            self._dead_letter(envelope.to_dict(), result.error or "", turns, result.status, retryable=False)
            return "dead-lettered"
        wait = self.schedule.wait_after(turns)
        self.state.failed(
            endpoint.name,
            now,
            result.error or "",
            now + self._probe_wait(wait),
            self.schedule.real(self.settings.webhook_failing_after_s),
        )
        self._down_for(health.down_s(now))
        if wait is None or now - envelope.received_at > self.max_age_s:
            reason = f"gave up after {turns} attempt(s) over {self._span()}; last: {result.error}"
            self._dead_letter(envelope.to_dict(), reason, turns, result.status)
            return "dead-lettered"
        return self._retry(
            envelope, receipt_handle, wait, turns, f"attempt {turns} failed ({result.error})", now
        )

    def _park_behind(self, envelope: Envelope, head: str) -> str:
        """Into the DLQ behind its recording's dead letter, not delivered: a redrive of that one
        brings the whole recording back, in the order it came."""
        record = {
            **envelope.to_dict(),
            "lastError": f"waiting behind {head}, an earlier webhook of its recording in the DLQ",
            "parkedBehind": head,
            "attempts": 0,
            "lastStatus": None,
            "retryable": True,
            "deadAt": self.clock(),
        }
        self.sqs.send_message(QueueUrl=self.settings.webhook_dlq_url, MessageBody=json.dumps(record))
        self.metrics.add_metric(name="WebhooksParked", unit="Count", value=1)
        log.warning("webhook %s parked behind dead letter %s (%s)", envelope.id, head, envelope.group)
        return "parked behind a dead letter"

    def probe_failing(self) -> dict[str, str]:
        """The detector's probe of every failing endpoint whose probe is due: {name: outcome}."""
        outcomes: dict[str, str] = {}
        for endpoint in self.endpoints.values():
            health = self.state.health(endpoint.name)
            if not health.failing:
                continue
            now = self.clock()
            lease_s = self.settings.webhook_timeout_ms / 1000 + 5
            if not self.state.claim_probe(endpoint.name, now, lease_s):
                outcomes[endpoint.name] = "not due"
                continue
            probe = Envelope(
                f"probe-{uuid.uuid4().hex}",
                now,
                "POST",
                "application/json",
                json.dumps({"event": "webhookProbe", "timestamp": int(now * 1000)}),
                False,
                endpoint.name,
                apply_effects=False,
            )
            result = self._deliver(probe, endpoint)
            now = self.clock()
            if result.error is None or not result.retryable:  # it answers
                self._recovered(endpoint.name, now)
                outcomes[endpoint.name] = "recovered"
                continue
            self.state.failed(
                endpoint.name,
                now,
                result.error or "",
                now + self.probe_interval_s,
                self.schedule.real(self.settings.webhook_failing_after_s),
            )
            self._down_for(health.down_s(now))
            outcomes[endpoint.name] = f"still failing: {result.error}"
        return outcomes

    def _probe_wait(self, wait: int | None) -> float:
        """How long a failing endpoint rests before the next probe: the failed webhook's next
        wait (the schedule's last once its own is spent), never longer than the probe interval."""
        if wait is None:
            wait = self.schedule.wait_after(len(self.schedule.waits)) if self.schedule.waits else 0
        return min(self.probe_interval_s, wait or 0)

    def _hold(self, envelope: Envelope, health: EndpointHealth, receipt_handle: str, now: float) -> str:
        """The endpoint is failing and another webhook probes it: this one's turn passes unused."""
        turns = self.state.count_turn(health.endpoint, envelope.turns_key, now)
        wait = self.schedule.wait_after(turns)
        self.metrics.add_metric(name="WebhooksHeld", unit="Count", value=1)
        self._down_for(health.down_s(now))
        if wait is None or now - envelope.received_at > self.max_age_s:
            reason = (
                f"endpoint {health.endpoint} failing since {health.failingSince} for all {turns} turn(s) "
                f"over {self._span()}; last: {health.lastError}"
            )
            self._dead_letter(envelope.to_dict(), reason, turns)
            return "dead-lettered"
        return self._retry(envelope, receipt_handle, wait, turns, "held: the endpoint is being probed", now)

    def _retry(
        self, envelope: Envelope, receipt_handle: str, wait: int, turns: int, why: str, now: float
    ) -> str:
        self._change_visibility(receipt_handle, wait)
        if envelope.endpoint is not None:
            self.state.park(envelope.endpoint, envelope.group or envelope.id, receipt_handle, now)
        raise RetryLater(f"{envelope.id}: {why}; turn {turns + 1} in {wait}s")

    def _recovered(self, endpoint: str, now: float) -> None:
        """The one caller that ended a streak of failures wakes, if the streak made the endpoint
        failing, what waits for it."""
        before = self.state.recovered(endpoint, now)
        if before is None or not before.failing:
            return
        since = before.failingSince or now
        woken = self.state.wake(endpoint)
        redriven = self.redrive(endpoint) if self.redrive is not None else []
        log.warning(
            "endpoint %s answers again after %.1fs: %d held webhook(s) woken, %d redriven from the DLQ",
            endpoint,
            now - since,
            woken,
            len(redriven),
        )

    def _down_for(self, seconds: float) -> None:
        if seconds > 0:
            self.metrics.add_metric(name="WebhookEndpointDownSeconds", unit="Seconds", value=seconds)

    def _span(self) -> str:
        return f"the retry schedule ({format_wait(sum(self.schedule.waits))})"

    def _change_visibility(self, receipt_handle: str, wait: int) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=self.settings.webhook_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=wait
        )

    def release(self, receipt_handles: list[str]) -> None:
        """Later webhooks of a group whose first must wait, handed back at once: a FIFO group is
        held by its first message alone, and comes back whole when that one does."""
        for start in range(0, len(receipt_handles), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.settings.webhook_queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for n, h in enumerate(receipt_handles[start : start + 10])
                ],
            )

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

    def _dead_letter(
        self,
        data: dict[str, Any],
        reason: str,
        attempt: int,
        status: int | None = None,
        retryable: bool = True,
    ) -> None:
        """Into the DLQ with the reason. If this send fails, the message stays in the main queue."""
        record = {
            **data,
            "lastError": reason,
            "attempts": attempt,
            "lastStatus": status,
            "retryable": retryable,
            "deadAt": self.clock(),
        }
        self.sqs.send_message(QueueUrl=self.settings.webhook_dlq_url, MessageBody=json.dumps(record))
        if data.get("group") and data.get("endpoint") and data.get("id"):  # its recording waits behind it
            self.state.mark_dead(data["endpoint"], data["group"], data["id"])
        self.stats.dead_lettered()
        self.metrics.add_metric(name="WebhooksDeadLettered", unit="Count", value=1)
        log.error("webhook %s dead-lettered: %s", data.get("id"), reason)
