"""The relay Lambda: an SQS event source with ReportBatchItemFailures. Each record is relayed;
one that must wait (backoff) is reported as a failure and comes back after its visibility timeout."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hacore.settings import get_settings
from hacore.webhooks.relay import Relay
from hacore.webhooks.wiring import build_relay, build_webhook_parts

logger = Logger(service="recorder-ha-relay")
metrics = Metrics()


def make_handler(relay: Relay) -> Any:
    processor = BatchProcessor(event_type=EventType.SQS)

    def record_handler(record: SQSRecord) -> str:
        attempt = int(record.attributes.approximate_receive_count or 1)
        return relay.process(record.body, attempt, record.receipt_handle)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handle


handler = make_handler(build_relay(build_webhook_parts(get_settings()), metrics))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handler(event, context)
