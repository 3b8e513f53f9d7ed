"""The relay Lambda: a FIFO SQS event source with ReportBatchItemFailures. Each record is relayed;
one that must wait is reported as a failure and comes back after its visibility timeout, and
the later records of its group (its recording) are skipped and handed back untouched, so they
follow it in order. Other groups in the batch go on."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from hacore.metrics import EmfMetrics
from hacore.settings import get_settings
from hacore.webhooks.relay import Relay
from hacore.webhooks.wiring import build_relay, build_webhook_parts

logger = Logger(service="recorder-ha-relay")
metrics = Metrics(service="recorder-ha-relay")  # the alarms name this service


def make_handler(relay: Relay) -> Any:
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # a batch whose records all wait is not an error: it must reach the release below
    processor.raise_on_entire_batch_failure = False
    tried: set[str] = set()

    def record_handler(record: SQSRecord) -> str:
        tried.add(record.message_id)
        attempt = int(record.attributes.approximate_receive_count or 1)
        return relay.process(record.body, attempt, record.receipt_handle)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        tried.clear()
        result = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        skipped = [
            r["receiptHandle"]
            for r in event.get("Records", [])
            if r["messageId"] in failed and r["messageId"] not in tried
        ]
        relay.release(skipped)
        return result

    return handle


handler = make_handler(build_relay(build_webhook_parts(get_settings()), EmfMetrics(metrics)))


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handler(event, context)
