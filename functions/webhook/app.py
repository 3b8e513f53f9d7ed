"""`/openvidu/webhook`: answers 200 only once the webhook is durably in SQS (503 otherwise), then
applies its session effects. Any method OpenVidu uses, any content type."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from hacore import aws
from hacore.failover.engine import FailoverEngine
from hacore.models import iso
from hacore.settings import Settings, get_settings
from hacore.store import SessionStore
from hacore.webhooks.effects import SessionEffects
from hacore.webhooks.events import parse_event
from hacore.webhooks.ingest import Ingest, QueueUnavailable, inbound_token_ok

logger = Logger(service="recorder-ha-webhook")
log = logging.getLogger("webhook")
INGEST_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@dataclass
class WebhookDeps:
    settings: Settings
    ingest: Ingest
    effects: SessionEffects
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookDeps:
        store = SessionStore(aws.client("dynamodb", settings.region), settings.sessions_table, settings)
        engine: list[FailoverEngine] = []

        def lazy_engine() -> FailoverEngine:
            if not engine:
                from hacore.wiring import build_engine

                engine.append(build_engine(settings, store))
            return engine[0]

        return cls(
            settings, Ingest(aws.client("sqs", settings.region), settings), SessionEffects(store, lazy_engine)
        )


def build_resolver(deps: WebhookDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    def reply(status: int, payload: dict[str, Any]) -> Response:
        return Response(status, "application/json", payload)

    @app.route("/openvidu/webhook", method=INGEST_METHODS)
    def ingest() -> Response:
        began = time.perf_counter()
        event = app.current_event
        method = event.http_method
        if not inbound_token_ok(deps.settings, dict(event.headers)):
            return reply(401, {"error": "unknown sender: the webhook token is missing or wrong"})
        body = event.body or ""
        size = len(base64.b64decode(body)) if event.is_base64_encoded else len(body.encode())
        if size > deps.settings.webhook_max_bytes:
            return reply(
                413,
                {"error": f"webhook body is {size} bytes; the limit is {deps.settings.webhook_max_bytes}"},
            )
        try:
            envelope = deps.ingest.accept(
                method, event.headers.get("content-type", ""), body, bool(event.is_base64_encoded)
            )
        except QueueUnavailable as error:
            logger.error("webhook not queued", extra={"reason": str(error)})
            return reply(
                503, {"status": "unavailable", "error": "the webhook could not be queued; send it again"}
            )
        effect = "no session effect"
        try:
            effect = deps.effects.apply(parse_event(envelope.body_text()))
        except Exception:  # queued already: the relay worker applies the effects again
            logger.exception(
                "session effect failed at ingest; the worker retries it", extra={"id": envelope.id}
            )
        logger.info("webhook queued", extra={"id": envelope.id, "method": method, "effect": effect})
        return reply(
            200,
            {
                "status": "received",
                "method": method,
                "message": "Webhook received and queued for relay",
                "id": envelope.id,
                "effect": effect,
                "timestamp": iso(deps.clock()),
                "processingTimeMs": round((time.perf_counter() - began) * 1000, 2),
            },
        )

    @app.get("/openvidu/webhook")
    def health() -> Response:
        return reply(200, {"status": "UP", "service": "webhook-relay", "timestamp": iso(deps.clock())})

    return app


resolver = build_resolver(WebhookDeps.from_settings(get_settings()))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolver.resolve(event, context)
