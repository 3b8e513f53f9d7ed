"""The detector Lambda. EventBridge runs it every minute; it sweeps every check interval until
its budget is used, so detection takes the timeout plus one check interval, not a minute.
EventBridge also sends it ECS's event for a recorder task that stopped: a backup that died is
taken over at once, without waiting for its heartbeat timeout; and a media node's end foretold
(Spot's warning, an Auto Scaling lifecycle hook: drained) or happening (stopping: taken over).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from hacore.failover.engine import FailoverEngine
from hacore.failover.host_events import host_event
from hacore.failover.task_events import recorder_stopped
from hacore.metrics import EmfMetrics
from hacore.settings import Settings, get_settings
from hacore.webhooks.wiring import build_relay, build_webhook_parts
from hacore.wiring import build_engine

logger = Logger(service="recorder-ha-detector")
metrics = Metrics(service="recorder-ha-detector")  # the alarms name this service
SAFETY_SECONDS = 5.0


def run_sweeps(
    engine: FailoverEngine,
    settings: Settings,
    remaining_seconds: Callable[[], float],
    flush: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
    probe: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """Sweeps every check interval while the budget allows another full interval. With failover
    off (APP_FAILOVER_ENABLED=false) the sweeps take nobody over, but the customer's deadlines
    (a held `failed`, the outbox, a terminal OpenVidu never sent) are still kept."""
    engine.census()
    began = time.monotonic()
    budget = min(settings.detector_budget_s, remaining_seconds() - SAFETY_SECONDS)
    sweeps, takeovers, failed = 0, [], []
    while True:
        report = engine.sweep()
        if probe is not None:
            try:
                probe()  # a failing webhook endpoint recovers on the status page without traffic
            except Exception:
                logger.exception("probing the failing webhook endpoints failed; the next sweep tries")
        flush()
        sweeps += 1
        takeovers.extend(asdict(t) for t in report.takeovers)
        failed.extend(report.failed)
        next_sweep = began + sweeps * settings.check_interval_s
        if (
            next_sweep - began + report.seconds > budget
            or remaining_seconds() < settings.check_interval_s + SAFETY_SECONDS
        ):
            break
        sleep(max(0.0, next_sweep - time.monotonic()))
    return {"enabled": settings.failover_enabled, "sweeps": sweeps, "takeovers": takeovers, "failed": failed}


settings = get_settings()
# A customer's lifecycle deadline (a hold, the outbox, a terminal owed) is acted on by the sweep.
webhooks = build_webhook_parts(settings)
sink = EmfMetrics(metrics)
engine = build_engine(settings, metrics=sink, deadlines=webhooks.terminal.on_deadline)
relay = build_relay(webhooks, sink) if webhooks.state.configured else None  # probes failing endpoints


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    going = host_event(event)
    if going is not None:  # EventBridge: a media node is going (Spot, Auto Scaling, EC2)
        outcome = engine.on_host_event(going)
        metrics.flush_metrics()
        logger.warning("media node going", extra={"instance": going.instance_id, "action": going.action})
        return {"event": going.action, **outcome}
    stopped = recorder_stopped(event, get_settings().ecs_container)
    if stopped is not None:  # EventBridge: a recorder task stopped; the schedule sends the rest
        takeover = engine.on_recorder_stopped(stopped)
        metrics.flush_metrics()
        logger.info("recorder stopped", extra={"ref": stopped.ref, "exitCode": stopped.exit_code})
        return {"event": "recorder-stopped", "takeover": asdict(takeover) if takeover else None}
    summary = run_sweeps(
        engine,
        get_settings(),
        lambda: context.get_remaining_time_in_millis() / 1000,
        flush=metrics.flush_metrics,
        probe=relay.probe_failing if relay is not None else None,
    )
    logger.info(
        "detector run", extra={"sweeps": summary["sweeps"], "takeovers": len(summary.get("takeovers", []))}
    )
    return summary
