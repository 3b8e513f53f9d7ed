"""The webhook pieces as the Lambdas build them, over moto in-process, with the local SQS event
source driving the relay: what the webhook integration tests share."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from relay.app import make_handler
from webhook.app import WebhookDeps, build_resolver

from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.webhooks.dlq import DeadLetters
from hacore.webhooks.effects import SessionEffects
from hacore.webhooks.endpoints import endpoints_from
from hacore.webhooks.health import EndpointState
from hacore.webhooks.ingest import Ingest
from hacore.webhooks.journal import Journal
from hacore.webhooks.outcome import CustomerTerminal
from hacore.webhooks.stats import RelayStats
from hacore.webhooks.wiring import WebhookParts, build_relay
from local.apigw import LocalContext, http_api_event, response_parts
from local.event_sources import SqsPoller
from local.provision import create_queues, create_tables
from local.receiver import Receiver
from local.template import Template
from tests.helpers import RecordedMetrics
from tests.unit.failover_fixtures import NoChunks, RecordingLauncher


@dataclass
class Rig:
    settings: Settings
    sqs: Any
    store: SessionStore
    parts: WebhookParts
    poller: SqsPoller
    launcher: RecordingLauncher
    metrics: RecordedMetrics

    def post(
        self, body: Any, method: str = "POST", headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode()
        event = http_api_event(
            method,
            "/openvidu/webhook",
            "",
            [("Content-Type", "application/json"), *(headers or {}).items()],
            data,
        )
        deps = WebhookDeps(self.parts, metrics=self.metrics)
        status, _, payload = response_parts(build_resolver(deps).resolve(event, LocalContext("w")))
        return status, json.loads(payload)

    def status(self) -> dict[str, Any]:
        event = http_api_event("GET", "/openvidu/webhook/status")
        return json.loads(
            response_parts(build_resolver(WebhookDeps(self.parts)).resolve(event, LocalContext("w")))[2]
        )

    def drain(self, rounds: int = 40) -> None:
        """Runs the relay until the queue is empty (retries come back at once: RETRY_DELAY is 0)."""
        for _ in range(rounds):
            self.poller.poll_once(wait_seconds=0)
            depth = self.parts.dead_letters.depth()
            if depth["queued"] == 0 and depth["inFlight"] == 0:
                return
        raise AssertionError(f"the queue did not drain: {self.parts.dead_letters.depth()}")

    def run_until(self, done: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Runs the relay, as Lambda's event source would, until `done`; returns the seconds taken."""
        began = time.monotonic()
        while not done():
            if time.monotonic() - began > timeout_s:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
            if not self.poller.poll_once(wait_seconds=0):
                time.sleep(0.05)
        return time.monotonic() - began


def make_rig(receiver: Receiver, **env: str) -> Rig:
    template = Template.load()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    tables = create_tables(dynamodb, template)
    queues = create_queues(sqs, template)
    settings = Settings.from_env(
        {
            "SESSIONS_TABLE": tables["SessionsTable"],
            "WEBHOOK_STATS_TABLE": tables["WebhookStatsTable"],
            "WEBHOOK_STATE_TABLE": tables["WebhookStateTable"],
            "WEBHOOK_QUEUE_URL": queues["WebhookQueue"],
            "WEBHOOK_DLQ_URL": queues["WebhookDLQ"],
            "OPENVIDU_WEBHOOK_ENDPOINT": receiver.url,
            "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "3",
            "OPENVIDU_WEBHOOK_RETRY_DELAY": "0",
            "OPENVIDU_WEBHOOK_TIMEOUT": "2000",
            **env,
        }
    )
    store = SessionStore(dynamodb, settings.sessions_table, settings)
    launcher = RecordingLauncher()
    from hacore.failover.engine import FailoverEngine

    engine = FailoverEngine(store, launcher, NoChunks(), settings)
    effects = SessionEffects(store, lambda: engine)
    endpoints = endpoints_from(settings)
    stats = RelayStats(dynamodb, settings.webhook_stats_table)
    ingest = Ingest(sqs, settings, endpoints)
    terminal = CustomerTerminal(store, ingest, lambda: engine)
    metrics = RecordedMetrics()
    state = EndpointState(dynamodb, settings.webhook_state_table, sqs, settings.webhook_queue_url)
    parts = WebhookParts(
        settings,
        endpoints,
        ingest,
        effects,
        stats,
        DeadLetters(sqs, settings.webhook_queue_url, settings.webhook_dlq_url),
        sqs,
        terminal,
        state,
        Journal(dynamodb, settings.webhook_state_table),
    )
    relay = build_relay(parts, metrics)
    poller = SqsPoller(sqs, settings.webhook_queue_url or "", make_handler(relay), "RelayFunction")
    return Rig(settings, sqs, store, parts, poller, launcher, metrics)
