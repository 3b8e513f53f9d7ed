"""Builds the failover engine from the settings: the clients, the launcher, the chunk index."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hacore import aws
from hacore.chunks import ChunkIndex
from hacore.failover.drains import CODEC as DRAIN_CODEC
from hacore.failover.engine import FailoverEngine
from hacore.failover.guard import GuardStore
from hacore.failover.nodes import CODEC as NODE_CODEC
from hacore.launchers import make_launcher
from hacore.metrics import MetricSink
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.standby.pool import StandbyPool
from hacore.standby.store import StandbyStore
from hacore.versioned import DynamoItems


def launcher_env(settings: Settings) -> dict[str, str]:
    """What a Docker backup needs that cannot come by reference: the controller's credentials.

    ECS backups get them from the task definition's secrets; local processes inherit the
    environment of the local stack.
    """
    if settings.launcher != "docker" or not (settings.username and settings.password):
        return {}
    return {
        "HA_CONTROLLER_USERNAME": settings.username,
        "HA_CONTROLLER_PASSWORD": settings.password.get_secret_value(),
    }


def build_engine(
    settings: Settings,
    store: SessionStore | None = None,
    clock: Callable[[], float] = time.time,
    metrics: MetricSink | None = None,
    deadlines: Callable[[str], object] | None = None,
) -> FailoverEngine:
    if store is None:
        store = SessionStore(
            aws.client("dynamodb", settings.region), settings.sessions_table, settings, clock
        )
    launcher = make_launcher(
        settings, lambda service: aws.client(service, settings.region), launcher_env(settings)
    )
    chunks = ChunkIndex(aws.client("s3", settings.region, settings.s3_endpoint), settings.s3_bucket)
    pool = None
    if settings.standby_table:
        table = StandbyStore(aws.client("dynamodb", settings.region), settings.standby_table, clock)
        pool = StandbyPool(table, launcher, settings, clock)
    guard = GuardStore(aws.client("dynamodb", settings.region), settings.control_table)
    control = aws.client("dynamodb", settings.region) if settings.control_table else None
    drains = DynamoItems(control, settings.control_table, DRAIN_CODEC, clock) if control else None
    nodes = DynamoItems(control, settings.control_table, NODE_CODEC, clock) if control else None
    return FailoverEngine(
        store,
        launcher,
        chunks,
        settings,
        clock,
        metrics,
        deadlines,
        pool,
        guard,
        drains,
        lambda lifecycle: complete_lifecycle_action(aws.client("autoscaling", settings.region), lifecycle),
        nodes,
    )


def complete_lifecycle_action(autoscaling: Any, lifecycle: dict[str, str]) -> None:
    """The drained node may go: its Auto Scaling lifecycle hook is told to continue."""
    autoscaling.complete_lifecycle_action(
        LifecycleHookName=lifecycle["LifecycleHookName"],
        AutoScalingGroupName=lifecycle["AutoScalingGroupName"],
        LifecycleActionToken=lifecycle["LifecycleActionToken"],
        InstanceId=lifecycle["EC2InstanceId"],
        LifecycleActionResult="CONTINUE",
    )
