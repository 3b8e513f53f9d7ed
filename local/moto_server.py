"""`python -m local.moto_server`: the embedded moto server, with one fix for deep queues.

moto checks each message it hands out against the queue's retention period by computing
every attribute of the queue, three of which scan all its messages: a receive from a queue
holding n messages costs O(n) per message, and 2,000 queued webhooks slowed the whole
emulator (SendMessage included) to a few messages a second. Reading the one attribute gives
the same answer in O(1). Nothing else of moto is changed.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import unix_time
from moto.server import main
from moto.sqs.models import SQSBackend


def retained(backend: SQSBackend, queue_name: str, message: Any) -> bool:
    """moto's `is_message_valid_based_on_retention_period`, reading only the retention period."""
    queue = backend.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()


def install() -> None:
    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    install()
    main()
