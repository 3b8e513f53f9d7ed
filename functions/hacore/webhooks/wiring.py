"""Builds the webhook pieces from the settings: the store for the effects, SQS, stats, endpoints.

The relay (and its HTTP client) is built apart, so the ingest function never imports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hacore import aws
from hacore.failover.engine import FailoverEngine
from hacore.metrics import MetricSink
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.webhooks.dlq import DeadLetters
from hacore.webhooks.effects import SessionEffects
from hacore.webhooks.endpoints import Endpoint, endpoints_from
from hacore.webhooks.health import EndpointState
from hacore.webhooks.ingest import Ingest
from hacore.webhooks.journal import Journal
from hacore.webhooks.outcome import CustomerTerminal
from hacore.webhooks.stats import RelayStats

if TYPE_CHECKING:
    from hacore.webhooks.relay import Relay


@dataclass
class WebhookParts:
    settings: Settings
    endpoints: list[Endpoint]
    ingest: Ingest
    effects: SessionEffects
    stats: RelayStats
    dead_letters: DeadLetters
    sqs: Any
    terminal: CustomerTerminal
    state: EndpointState  # each endpoint's health
    journal: Journal  # what became of each webhook of a recording


def build_webhook_parts(settings: Settings) -> WebhookParts:
    dynamodb = aws.client("dynamodb", settings.region)
    sqs = aws.client("sqs", settings.region)
    store = SessionStore(dynamodb, settings.sessions_table, settings)
    engine: list[FailoverEngine] = []

    def lazy_engine() -> FailoverEngine:  # launcher clients only when an effect needs them
        if not engine:
            from hacore.wiring import build_engine

            engine.append(build_engine(settings, store))
        return engine[0]

    endpoints = endpoints_from(settings)
    effects = SessionEffects(store, lazy_engine)
    stats = RelayStats(dynamodb, settings.webhook_stats_table)
    ingest = Ingest(sqs, settings, endpoints)
    return WebhookParts(
        settings,
        endpoints,
        ingest,
        effects,
        stats,
        DeadLetters(sqs, settings.webhook_queue_url, settings.webhook_dlq_url),
        sqs,
        CustomerTerminal(store, ingest, lazy_engine, settings.finalize_timeout_s),
        EndpointState(dynamodb, settings.webhook_state_table, sqs, settings.webhook_queue_url),
        Journal(dynamodb, settings.webhook_state_table),
    )


def build_relay(parts: WebhookParts, metrics: MetricSink | None = None) -> Relay:
    from hacore.webhooks.relay import Relay

    auto = parts.settings.webhook_auto_redrive

    def redrive(endpoint: str) -> list[str]:
        return parts.dead_letters.redrive(endpoint=endpoint, retryable_only=True)

    return Relay(
        parts.settings,
        parts.endpoints,
        parts.sqs,
        parts.stats,
        parts.effects,
        parts.state,
        terminal=parts.terminal,
        metrics=metrics,
        redrive=redrive if auto else None,
        journal=parts.journal,
    )
