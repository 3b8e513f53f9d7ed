"""The API Lambda: builds the resolver from injected dependencies; `lambda_handler` is its entry point.

Tests and the local runtime build their own app with `build_app`; Lambda uses the one
made at import from the environment (clients created once per container).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from api.console import add_console_routes
from api.documented import DocumentedResolver, declared
from api.failover import add_failover_routes
from api.hosts import add_host_routes
from api.middleware import gate
from api.recorders import add_recorder_routes
from api.recording import RecordingFiles, add_recording_routes
from api.replies import describe_validation, error_reply, json_reply
from api.sessions import add_session_routes
from api.standbys import add_standby_routes
from api.webhooks import add_webhook_routes
from hacore import aws
from hacore.auth import CredentialSource
from hacore.errors import DomainError, QueueUnavailable
from hacore.metrics import EmfMetrics, MetricSink, NoMetrics
from hacore.sessions.store import SessionStore
from hacore.settings import Settings, get_settings
from hacore.snapstart import reseed_after_restore

if TYPE_CHECKING:  # built on first use (below): the heartbeat's cold start does not import them
    from hacore.failover.engine import FailoverEngine
    from hacore.standby.store import StandbyStore
    from hacore.webhooks.dlq import DeadLetters
    from hacore.webhooks.journal import Journal
    from hacore.webhooks.outcome import CustomerTerminal

logger = Logger(service="recorder-ha-controller")
metrics = Metrics(service="recorder-ha-controller")

API_TITLE = "OpenVidu HA recorder controller"
API_VERSION = "1.0.0"


@dataclass
class ApiDeps:
    settings: Settings
    store: SessionStore
    credentials: CredentialSource
    clock: Callable[[], float] = field(default=time.time)
    engine: FailoverEngine | None = None
    dead_letters: DeadLetters | None = None
    customer_terminal: CustomerTerminal | None = None
    standby_store: StandbyStore | None = None
    webhook_journal: Journal | None = None
    metrics: MetricSink = field(default_factory=NoMetrics)

    def failover(self) -> FailoverEngine:
        """Built on first use: the sessions routes (the heartbeat) never pay for launcher clients."""
        if self.engine is None:
            from hacore.wiring import build_engine

            self.engine = build_engine(self.settings, self.store, self.clock, metrics=self.metrics)
        return self.engine

    def terminal(self) -> CustomerTerminal:
        """Built on first use: only the final report needs the webhook queue."""
        if self.customer_terminal is None:
            from hacore.webhooks.endpoints import endpoints_from
            from hacore.webhooks.ingest import Ingest
            from hacore.webhooks.outcome import CustomerTerminal

            sqs = aws.client("sqs", self.settings.region)
            ingest = Ingest(sqs, self.settings, endpoints_from(self.settings))
            self.customer_terminal = CustomerTerminal(
                self.store, ingest, self.failover, self.settings.finalize_timeout_s
            )
        return self.customer_terminal

    def standbys(self) -> StandbyStore | None:
        """Built on first use: only standbys (and operators looking at the pool) call these routes."""
        if self.standby_store is None and self.settings.standby_table:
            from hacore.standby.store import StandbyStore

            dynamodb = aws.client("dynamodb", self.settings.region)
            self.standby_store = StandbyStore(dynamodb, self.settings.standby_table, self.clock)
        return self.standby_store

    def journal(self) -> Journal:
        """Built on first use: only the console's recording page reads the webhook journal."""
        if self.webhook_journal is None:
            from hacore.webhooks.journal import Journal

            dynamodb = aws.client("dynamodb", self.settings.region)
            self.webhook_journal = Journal(dynamodb, self.settings.webhook_state_table, self.clock)
        return self.webhook_journal

    def dlq(self) -> DeadLetters:
        if self.dead_letters is None:
            from hacore.webhooks.dlq import DeadLetters

            sqs = aws.client("sqs", self.settings.region)
            self.dead_letters = DeadLetters(
                sqs, self.settings.webhook_queue_url, self.settings.webhook_dlq_url
            )
        return self.dead_letters

    @classmethod
    def from_settings(cls, settings: Settings, metrics: MetricSink | None = None) -> ApiDeps:
        dynamodb = aws.client("dynamodb", settings.region)
        return cls(
            settings,
            SessionStore(dynamodb, settings.sessions_table, settings),
            CredentialSource(settings),
            metrics=metrics or NoMetrics(),
        )


class Api:
    """The resolver behind its gate (size, auth, JSON): what Lambda and the tests call."""

    def __init__(self, deps: ApiDeps) -> None:
        self.deps = deps
        self.resolver = build_resolver(deps)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        refusal = gate(event, self.deps.credentials, self.deps.settings.max_body_bytes)
        return refusal or self.resolver.resolve(event, context)


def build_resolver(deps: ApiDeps) -> DocumentedResolver:
    # A reply that breaks its own schema is our bug: 500, never a 4xx blaming the client.
    app = DocumentedResolver(enable_validation=True, response_validation_error_http_code=500)

    @app.exception_handler(RequestValidationError)
    def bad_request(error: RequestValidationError) -> Response:
        message, details = describe_validation(list(error.errors()))
        return error_reply(400, message, details=details)

    @app.exception_handler(DomainError)
    def refused(error: DomainError) -> Response:
        return error_reply(error.status_code, error.message, **error.extra)

    @app.exception_handler(QueueUnavailable)
    def queue_down(error: QueueUnavailable) -> Response:
        # the final report's ready could not be queued: decided and kept, sent when reported again
        return error_reply(503, f"the webhook queue is unavailable ({error}); report again")

    @app.not_found
    def not_found(_: Exception) -> Response:
        event = app.current_event  # a known path with a wrong method never gets here: 405 first
        return error_reply(404, f"no route for {event.http_method} {event.path}")

    @app.get(
        "/actuator/health",
        tags=["health"],
        summary="Liveness and store reachability (no auth)",
        responses=declared(description="Up", r503={"description": "The session store is unreachable"}),
    )
    def actuator_health() -> Response[dict[str, Any]]:
        try:
            deps.store.find("__actuator_probe__")
        except Exception as error:
            logger.exception("session store unreachable")
            return json_reply(
                503,
                {
                    "status": "DOWN",
                    "components": {"dynamodb": {"status": "DOWN", "error": type(error).__name__}},
                },
            )
        return json_reply(200, {"status": "UP", "components": {"dynamodb": {"status": "UP"}}})

    add_session_routes(
        app,
        deps.store,
        deps.clock,
        deps.terminal,
        deps.settings,
        deps.metrics,
        handed_over=lambda record: deps.failover().handovers.completed(record),
        handover_ready=lambda record, beat, now: deps.failover().handovers.ready(record, beat, now),
    )
    add_failover_routes(app, deps.failover, deps.settings, deps.clock)
    add_recorder_routes(app, deps.failover, deps.clock)
    add_host_routes(app, deps.failover, deps.clock)
    add_webhook_routes(app, deps.dlq, deps.clock)
    add_standby_routes(app, deps.standbys, deps.clock, deps.settings.standby_silent_after_s)
    add_recording_routes(app, deps.store, RecordingFiles(deps.settings), deps.journal, deps.clock)
    if deps.settings.console_enabled:
        add_console_routes(app)

    if deps.settings.swagger_enabled:
        app.enable_swagger(path="/swagger-ui.html", title=API_TITLE, version=API_VERSION)

        @app.get("/v3/api-docs", include_in_schema=False)
        def openapi_document() -> Response[str]:
            return Response(
                200, "application/json", app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION)
            )

    return app


# Built at import: Lambda's init phase runs with a full CPU, so that is where the work belongs,
# and with SnapStart it is done once per version, in the snapshot.
api = Api(ApiDeps.from_settings(get_settings(), EmfMetrics(metrics)))
reseed_after_restore()


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api(event, context)
