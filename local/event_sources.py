"""What Lambda's SQS event source mapping does, on this machine: poll, invoke with a batch,
delete what succeeded, leave the reported failures for their visibility timeout."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from local.apigw import LocalContext

log = logging.getLogger("local.sqs")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class SqsPoller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Callable[[dict, Any], dict],
        function: str,
        batch_size: int = 10,
        timeout_ms: int = 30_000,
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._handler = handler
        self._function = function
        self._batch = min(10, batch_size)
        self._timeout_ms = timeout_ms
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.stopping = threading.Event()

    def poll_once(self, wait_seconds: int = 1) -> int:
        reply = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages", [])
        if not messages:
            return 0
        try:
            result = self._handler(
                sqs_event(messages, self._arn), LocalContext(self._function, timeout_ms=self._timeout_ms)
            )
        except Exception:
            log.exception(
                "%s failed on a batch; the messages come back after their visibility timeout", self._function
            )
            return len(messages)
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(done[start : start + 10])
                ],
            )
        return len(messages)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # the queue is briefly unreachable: try again
                log.exception("polling %s failed", self._url)
                self.stopping.wait(1)
