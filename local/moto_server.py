"""`python -m local.moto_server`: the embedded moto server, with one fix for deep queues and one
call moto lacks.

moto checks each message it hands out against the queue's retention period by computing
every attribute of the queue, three of which scan all its messages: a receive from a queue
holding n messages costs O(n) per message, and 2,000 queued webhooks slowed the whole
emulator (SendMessage included) to a few messages a second. Reading the one attribute gives
the same answer in O(1).

moto's Auto Scaling has no CompleteLifecycleAction (its server answers something botocore cannot
parse): a drained node's lifecycle hook is completed here as AWS answers it, once the call names
what AWS requires. Nothing else of moto is changed.
"""

from __future__ import annotations

from typing import Any

from moto.autoscaling.responses import AutoScalingResponse
from moto.core.utils import unix_time
from moto.server import main
from moto.sqs.models import SQSBackend


def retained(backend: SQSBackend, queue_name: str, message: Any) -> bool:
    """moto's `is_message_valid_based_on_retention_period`, reading only the retention period."""
    queue = backend.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()


COMPLETED = """<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <CompleteLifecycleActionResult/>
  <ResponseMetadata><RequestId>7c6e177f-f082-11e1-ac58-3714bEXAMPLE</RequestId></ResponseMetadata>
</CompleteLifecycleActionResponse>"""
MISSING = """<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <Error><Type>Sender</Type><Code>ValidationError</Code><Message>{}</Message></Error>
  <RequestId>7c6e177f-f082-11e1-ac58-3714bEXAMPLE</RequestId>
</ErrorResponse>"""


def complete_lifecycle_action(self: AutoScalingResponse) -> str | tuple[str, dict[str, int]]:
    missing = [
        name
        for name in ("LifecycleHookName", "AutoScalingGroupName", "LifecycleActionResult")
        if not self._get_param(name)
    ]
    if not (self._get_param("LifecycleActionToken") or self._get_param("InstanceId")):
        missing.append("LifecycleActionToken or InstanceId")
    if missing:
        return MISSING.format(f"missing: {', '.join(missing)}"), {"status": 400}
    return COMPLETED


def install() -> None:
    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign,assignment]
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action  # type: ignore[attr-defined]


if __name__ == "__main__":
    install()
    main()
