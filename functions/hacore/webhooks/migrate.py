"""Moving what an old standard webhook queue holds into the FIFO queue that replaced it.

A stack from before the FIFO queue kept webhooks in a standard queue, in no order. An upgrade
creates the FIFO queue; what the old one still holds must reach it, each recording's webhooks in
the order they came (`receivedAt`), in the message group the ingest would give them today.

Every message is read first (held invisible meanwhile), then sent in order, then deleted from
the old queue, one by one. A message that is not a webhook envelope stays in the old queue
(made visible again) and is counted: nothing is dropped. Idempotent: the FIFO deduplication id
is the webhook's id and endpoint, so a run interrupted between a send and its delete and run
again at once (inside SQS's five minutes) queues nothing twice; a message already moved is no
longer in the old queue. Stop the old queue's consumer first: messages it holds in flight are
not visible to the migration (run it again: it reports 0 moved once the old queue is empty).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from hacore.webhooks.events import order_key, parse_event
from hacore.webhooks.ingest import Envelope, fifo_fields

HOLD_S = 300  # how long each message stays invisible while the migration decides


@dataclass
class Migration:
    moved: int = 0
    recordings: Counter[str] = field(default_factory=Counter)  # order key -> webhooks moved
    unreadable: int = 0  # left in the old queue
    planned: list[str] = field(default_factory=list)  # webhook ids, in the order sent (or to send)

    def summary(self) -> dict[str, Any]:
        return {
            "moved": self.moved,
            "recordings": len(self.recordings),
            "perRecording": dict(self.recordings),
            "unreadableLeft": self.unreadable,
        }


def group_of(envelope: Envelope) -> str:
    """The FIFO group the ingest gives this webhook now: its endpoint and its recording."""
    if envelope.group:
        return envelope.group
    key = order_key(parse_event(envelope.body_text()))
    return f"{envelope.endpoint or '-'}/{key or envelope.id}"


def migrate(sqs: Any, source: str, target: str, dry_run: bool = False, hold_s: int = HOLD_S) -> Migration:
    if not target.endswith(".fifo"):
        raise ValueError(f"{target} is not a FIFO queue (its name ends in .fifo)")
    if source == target:
        raise ValueError("the old queue and the FIFO queue are the same queue")
    report = Migration()
    readable: list[tuple[Envelope, str]] = []
    unreadable: dict[str, str] = {}  # message id -> its latest receipt handle: released at the end
    while True:
        messages = sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=hold_s, WaitTimeSeconds=0
        ).get("Messages", [])
        fresh = False
        for message in messages:
            if message["MessageId"] in unreadable:  # seen, and given back: it came round again
                unreadable[message["MessageId"]] = message["ReceiptHandle"]
                continue
            fresh = True
            try:
                envelope = Envelope.from_message(message["Body"])
            except (ValueError, KeyError, TypeError):
                unreadable[message["MessageId"]] = message["ReceiptHandle"]
                continue
            readable.append((replace(envelope, group=group_of(envelope)), message["ReceiptHandle"]))
        if not fresh:
            break
    report.unreadable = len(unreadable)
    for handle in unreadable.values():  # not a webhook: left in the old queue, visible again
        sqs.change_message_visibility(QueueUrl=source, ReceiptHandle=handle, VisibilityTimeout=0)
    readable.sort(key=lambda pair: pair[0].received_at)
    for envelope, handle in readable:
        report.planned.append(envelope.id)
        report.recordings[envelope.group or "-"] += 1
        if dry_run:
            sqs.change_message_visibility(QueueUrl=source, ReceiptHandle=handle, VisibilityTimeout=0)
            continue
        sqs.send_message(QueueUrl=target, MessageBody=envelope.to_message(), **fifo_fields(target, envelope))
        sqs.delete_message(QueueUrl=source, ReceiptHandle=handle)
        report.moved += 1
    return report


def describe(report: Migration, dry_run: bool) -> str:
    verb = "would move" if dry_run else "moved"
    count = len(report.planned) if dry_run else report.moved
    text = f"{verb} {count} webhook(s) of {len(report.recordings)} recording(s)"
    if report.unreadable:
        text += f"; {report.unreadable} message(s) that are not webhooks left in the old queue"
    return text + "\n" + json.dumps(dict(report.recordings), indent=2)
