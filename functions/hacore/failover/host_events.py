"""EC2's and Auto Scaling's word that a media node is going, read with powertools' EventBridge
envelope. What each means here:

* `EC2 Spot Instance Interruption Warning`: two minutes' notice: drain the node.
* `EC2 Instance-terminate Lifecycle Action` (Auto Scaling): drain it, then complete the action.
* `EC2 Instance State-change Notification`, `stopping` or `shutting-down`: it is going now: its
  recordings are taken over at once (no time to make before break).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SPOT_WARNING = "EC2 Spot Instance Interruption Warning"
TERMINATE_ACTION = "EC2 Instance-terminate Lifecycle Action"
STATE_CHANGE = "EC2 Instance State-change Notification"
GOING_NOW = frozenset({"stopping", "shutting-down"})
INSTANCE_STOPPING = "instance-stopping"  # the takeover's reason


class _Detail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class SpotWarning(_Detail):
    instance_id: str = Field(alias="instance-id")
    instance_action: str = Field("terminate", alias="instance-action")


class TerminateAction(_Detail):
    LifecycleHookName: str
    AutoScalingGroupName: str
    LifecycleActionToken: str
    EC2InstanceId: str
    LifecycleTransition: str = "autoscaling:EC2_INSTANCE_TERMINATING"


class StateChange(_Detail):
    instance_id: str = Field(alias="instance-id")
    state: str


@dataclass(frozen=True)
class HostEvent:
    """What to do with a node: `drain` it (with the lifecycle action to complete), or `take-over`
    its recordings now."""

    action: str
    instance_id: str
    lifecycle: dict[str, str] | None = None


def host_event(event: dict[str, Any]) -> HostEvent | None:
    """None for any other event (a schedule, an ECS task's) and a state that is not an end."""
    from aws_lambda_powertools.utilities.parser import parse
    from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope

    kind = event.get("detail-type")
    if kind == SPOT_WARNING:
        spot = parse(event=event, model=SpotWarning, envelope=EventBridgeEnvelope)
        return HostEvent("drain", spot.instance_id)
    if kind == TERMINATE_ACTION:
        action = parse(event=event, model=TerminateAction, envelope=EventBridgeEnvelope)
        return HostEvent("drain", action.EC2InstanceId, action.model_dump())
    if kind == STATE_CHANGE:
        change = parse(event=event, model=StateChange, envelope=EventBridgeEnvelope)
        return HostEvent("take-over", change.instance_id) if change.state in GOING_NOW else None
    return None
