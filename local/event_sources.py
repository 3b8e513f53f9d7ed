"""What Lambda's SQS event source mapping does, on this machine: poll, invoke with a batch,
delete what succeeded, leave the reported failures for their visibility timeout. And what
EventBridge does for the template's rules on AWS's own events (`EventBus`)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from local.apigw import LocalContext

log = logging.getLogger("local.sqs")
LOCAL_ACCOUNT = "000000000000"


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


class EventBus:
    """EventBridge's part for the template's rules on AWS's own events (EC2's, Auto Scaling's):
    each rule is put on moto's EventBridge with an SQS queue as its target, as the rule's Lambda
    target stands for here; the queue is polled and each event goes to the function, one event per
    invocation, as EventBridge invokes. So `aws events put-events` (or `python -m local events put`)
    against the stack reaches the detector as it would in AWS, through the template's patterns."""

    def __init__(
        self,
        events: Any,
        sqs: Any,
        rules: list[tuple[str, dict[str, Any]]],
        invoke: Callable[[str, dict], None],
    ) -> None:
        self._events = events
        self._sqs = sqs
        self._invoke = invoke
        self._queues: dict[str, str] = {}
        self.stopping = threading.Event()
        for number, (function, pattern) in enumerate(rules):
            url = self._queues.get(function) or self._queue(function)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            name = f"ovha-local-{function}-{number}"
            events.put_rule(Name=name, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=name, Targets=[{"Id": function, "Arn": arn}])

    def _queue(self, function: str) -> str:
        self._queues[function] = self._sqs.create_queue(QueueName=f"ovha-local-bus-{function}")["QueueUrl"]
        return self._queues[function]

    def poll_once(self, wait_seconds: int = 1) -> int:
        delivered = 0
        for function, url in self._queues.items():
            messages = self._sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
            for message in messages.get("Messages", []):
                event = json.loads(message["Body"])
                event.setdefault("account", LOCAL_ACCOUNT)  # moto's copy leaves it out; EventBridge's has it
                self._invoke(function, event)
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                delivered += 1
        return delivered

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:  # moto briefly unreachable: try again
                log.exception("polling the local event bus failed")
                self.stopping.wait(1)


def put_event(events: Any, event: dict[str, Any]) -> str:
    """An event as AWS delivers it, put on the bus as its source would (PutEvents)."""
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event.get("detail") or {}),
        "Resources": event.get("resources") or [],
    }
    reply = events.put_events(Entries=[entry])
    if reply.get("FailedEntryCount"):
        raise RuntimeError(f"the bus refused the event: {reply['Entries']}")
    return reply["Entries"][0]["EventId"]
