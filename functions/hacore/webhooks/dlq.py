"""The dead-letter queue: listing what is there and why, and moving messages back for delivery.

Plain SQS calls (moto has no StartMessageMoveTask): receive, send to the main queue, then
delete from the DLQ; a message that is not asked for is made visible again at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from hacore.webhooks.ingest import Envelope, fifo_fields

PEEK_SECONDS = 20


class DeadLetters:
    def __init__(self, sqs: Any, queue_url: str | None, dlq_url: str | None) -> None:
        self._sqs = sqs
        self._queue = queue_url
        self._dlq = dlq_url

    def _each(self, limit: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Every message once (record, raw message); each is held invisible until the caller decides."""
        seen: set[str] = set()
        while len(seen) < limit:
            reply = self._sqs.receive_message(
                QueueUrl=self._dlq, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_SECONDS, WaitTimeSeconds=0
            )
            fresh = [m for m in reply.get("Messages", []) if m["MessageId"] not in seen]
            if not fresh:
                return
            for message in fresh:
                seen.add(message["MessageId"])
                try:
                    record = json.loads(message["Body"])
                except ValueError:
                    record = {"raw": message["Body"], "lastError": "unreadable"}
                yield record, message

    def _release(self, message: dict[str, Any]) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    def list(self, limit: int = 500) -> list[dict[str, Any]]:
        held, found = [], []
        for record, message in self._each(limit):
            held.append(message)
            found.append(
                {
                    "id": record.get("id"),
                    "endpoint": record.get("endpoint"),
                    "lastError": record.get("lastError"),
                    "lastStatus": record.get("lastStatus"),
                    "attempts": record.get("attempts"),
                    "receivedAt": record.get("receivedAt"),
                    "deadAt": record.get("deadAt"),
                    "method": record.get("method"),
                    "parkedBehind": record.get("parkedBehind"),  # waits behind its recording's dead letter
                }
            )
        for message in held:
            self._release(message)
        return found

    def redrive(
        self,
        ids: set[str] | None = None,
        limit: int = 10_000,
        endpoint: str | None = None,
        retryable_only: bool = False,
    ) -> list[str]:
        """Moves the messages (all, those with the given webhook ids, or one endpoint's) back to
        the main queue, oldest first, so a recording's webhooks go back in the order they came;
        the ones parked behind a chosen one go with it. `retryable_only` leaves those the
        endpoint refused outright (a 4xx is not an outage)."""
        every = list(self._each(limit))

        def asked(record: dict[str, Any]) -> bool:
            return (
                "id" in record
                and (ids is None or record["id"] in ids)
                and (endpoint is None or record.get("endpoint") == endpoint)
                and not (retryable_only and not record.get("retryable", True))
                # one parked behind a dead letter goes with that one (below), or when named
                and (not record.get("parkedBehind") or (ids is not None and record["id"] in ids))
            )

        # a recording goes back whole: the webhooks parked behind a chosen one go with it, in order
        groups = {record.get("group") for record, _ in every if asked(record) and record.get("group")}

        def moves(record: dict[str, Any]) -> bool:
            return asked(record) or (bool(record.get("parkedBehind")) and record.get("group") in groups)

        chosen = [(record, message) for record, message in every if moves(record)]
        held = [message for record, message in every if not moves(record)]
        moved = []
        stamp = f"/redriven-{time.time_ns()}"  # FIFO: not a duplicate of the first send
        for record, message in sorted(chosen, key=lambda pair: pair[0].get("receivedAt") or 0):
            envelope = replace(Envelope.from_dict(record), redriven=int(record.get("redriven", 0)) + 1)
            self._sqs.send_message(
                QueueUrl=self._queue,
                MessageBody=envelope.to_message(),
                **fifo_fields(self._queue, envelope, stamp),
            )
            self._sqs.delete_message(QueueUrl=self._dlq, ReceiptHandle=message["ReceiptHandle"])
            moved.append(envelope.id)
        for message in held:
            self._release(message)
        return moved

    def depth(self) -> dict[str, int]:
        def attributes(url: str | None) -> dict[str, str]:
            if not url:
                return {}
            return self._sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]

        main, dead = attributes(self._queue), attributes(self._dlq)
        return {
            "dlqDepth": int(dead.get("ApproximateNumberOfMessages", 0)),
            "queued": int(main.get("ApproximateNumberOfMessages", 0)),
            "inFlight": int(main.get("ApproximateNumberOfMessagesNotVisible", 0)),
        }
