"""`/openvidu/webhook`: answers 200 only once the webhook is durably in SQS (503 otherwise), then
applies its session effects. Any method OpenVidu uses, any content type."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from hacore.metrics import EmfMetrics, MetricSink, NoMetrics
from hacore.models import iso
from hacore.settings import Settings, get_settings
from hacore.snapstart import reseed_after_restore
from hacore.webhooks.events import order_key, parse_event
from hacore.webhooks.inbound import InboundToken, TokenUnavailable
from hacore.webhooks.ingest import QueueUnavailable
from hacore.webhooks.wiring import WebhookParts, build_webhook_parts

logger = Logger(service="recorder-ha-webhook")
INGEST_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@dataclass
class WebhookDeps:
    parts: WebhookParts
    clock: Callable[[], float] = time.time
    token: InboundToken | None = None  # None: the settings' (OPENVIDU_WEBHOOK_INBOUND_TOKEN[_SECRET])
    metrics: MetricSink = field(default_factory=NoMetrics)

    @property
    def settings(self) -> Settings:
        return self.parts.settings


def build_resolver(deps: WebhookDeps) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    token = deps.token or InboundToken(deps.settings)

    def reply(status: int, payload: dict[str, Any]) -> Response:
        return Response(status, "application/json", payload)

    @app.route("/openvidu/webhook", method=INGEST_METHODS)
    def ingest() -> Response:
        began = time.perf_counter()
        event = app.current_event
        method = event.http_method
        try:
            known = token.accepts(dict(event.headers))
        except TokenUnavailable as error:
            logger.error("webhook refused: the token cannot be checked", extra={"reason": str(error)})
            return reply(
                503, {"status": "unavailable", "error": "the sender cannot be checked; send it again"}
            )
        if not known:  # nothing is queued and no session is touched
            deps.metrics.add_metric(name="WebhooksRefused", unit="Count", value=1)
            logger.warning(
                "webhook refused: no or wrong token", extra={"sourceIp": event.request_context.http.source_ip}
            )
            return reply(401, {"error": "unknown sender: the webhook token is missing or wrong"})
        body = event.body or ""
        size = len(base64.b64decode(body)) if event.is_base64_encoded else len(body.encode())
        if size > deps.settings.webhook_max_bytes:
            return reply(
                413,
                {"error": f"webhook body is {size} bytes; the limit is {deps.settings.webhook_max_bytes}"},
            )
        parsed = None if event.is_base64_encoded else parse_event(body)
        try:
            envelope = deps.parts.ingest.accept(
                method,
                event.headers.get("content-type", ""),
                body,
                bool(event.is_base64_encoded),
                parsed.event if parsed else None,
                order_key=order_key(parsed),
            )
        except QueueUnavailable as error:
            logger.error("webhook not queued", extra={"reason": str(error)})
            return reply(
                503, {"status": "unavailable", "error": "the webhook could not be queued; send it again"}
            )
        effect = "no session effect"
        try:
            effect = deps.parts.effects.apply(parsed)
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
                "message": "Webhook received and relay initiated",
                "id": envelope.id,
                "effect": effect,
                "timestamp": iso(deps.clock()),
                "processingTimeMs": round((time.perf_counter() - began) * 1000, 2),
            },
        )

    @app.get("/openvidu/webhook")
    def health() -> Response:
        """The original's words; whether the relay has somewhere to send, never where (the URL
        may carry a customer's secret)."""
        endpoints = deps.parts.endpoints
        return reply(
            200,
            {
                "status": "healthy",
                "endpoint": "/openvidu/webhook",
                "message": "OpenVidu webhook relay endpoint is operational",
                "service": "webhook-relay",
                "relayStatus": {"enabled": bool(endpoints), "endpoints": len(endpoints)},
                "timestamp": iso(deps.clock()),
            },
        )

    @app.get("/openvidu/webhook/status")
    def status() -> Response:
        counters = deps.parts.stats.read()
        queues = deps.parts.dead_letters.depth()
        succeeded, failed = int(counters.get("successfulRequests", 0)), int(counters.get("failedRequests", 0))
        endpoints = deps.parts.endpoints
        now = deps.clock()
        state, schedule = deps.parts.state, deps.settings.webhook_schedule
        unhealthy_after_s = schedule.real(deps.settings.webhook_unhealthy_after_s)
        health = [
            state.health(e.name).view(now, unhealthy_after_s) if state.configured else {} for e in endpoints
        ]
        words = {h.get("health") for h in health}
        return reply(
            200,
            {
                "enabled": bool(endpoints),
                "endpoint": endpoints[0].url if endpoints else None,
                "endpoints": [
                    {"name": e.name, "url": e.url, "events": e.events, **h}
                    for e, h in zip(endpoints, health, strict=True)
                ],
                # the worst of the endpoints: healthy, failing, or unhealthy (failing for too long)
                "health": next((w for w in ("unhealthy", "failing", "healthy") if w in words), None),
                "retrySchedule": schedule.describe(),
                "totalRequests": int(counters.get("totalRequests", 0)),
                "successfulRequests": succeeded,
                "failedRequests": failed,
                "successRate": round(100 * succeeded / (succeeded + failed), 2)
                if succeeded + failed
                else None,
                "deliveryAttempts": int(counters.get("deliveryAttempts", 0)),
                "failedAttempts": int(counters.get("failedAttempts", 0)),
                "lastRequestTime": iso(counters.get("lastRequestTime")),
                "lastSuccessTime": iso(counters.get("lastSuccessTime")),
                "lastFailureTime": iso(counters.get("lastFailureTime")),
                "dlqDepth": queues["dlqDepth"],
                "inFlight": queues["inFlight"] + queues["queued"],
                "latencyP50Ms": counters.get("latencyP50Ms"),
                "latencyP99Ms": counters.get("latencyP99Ms"),
                "timestamp": iso(deps.clock()),
            },
        )

    return app


metrics = Metrics(service="recorder-ha-webhook")  # the alarms name this service
inbound = InboundToken(get_settings())
with contextlib.suppress(TokenUnavailable):
    inbound.expected()  # read at start (and into SnapStart's snapshot); a failure is retried per request
resolver = build_resolver(
    WebhookDeps(build_webhook_parts(get_settings()), token=inbound, metrics=EmfMetrics(metrics))
)
reseed_after_restore()  # SnapStart: jitter differs in every restored environment


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolver.resolve(event, context)
