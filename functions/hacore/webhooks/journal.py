"""What became of each webhook of a recording, in the order OpenVidu (or we) sent them: the
operator's answer to "did the customer get it?".

The relay notes every turn's outcome here (delivered, retrying, held, dead-lettered, held back
or replaced by the one-terminal rule, parked behind a dead letter); the console's recording page
reads them back. One item per webhook and endpoint, overwritten turn by turn, in the webhook
state table under the partition `journal#<order key>` (a recording's `rec:<id>`), sorted by
when the webhook came in: one Query reads a recording's webhooks in order. Items expire with
what SQS would keep of them. A note that cannot be written is logged and skipped: the journal
is for reading, and delivering never waits on it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import BaseModel

from hacore.webhooks.events import OpenViduEvent, order_key, recording_order_key
from hacore.webhooks.health import KEEP_S
from hacore.webhooks.ingest import Envelope

log = logging.getLogger("hacore.journal")

PARTITION = "journal#"


class Delivery(BaseModel):
    """One webhook for one endpoint, as its latest turn left it."""

    webhookId: str
    endpoint: str
    event: str | None = None
    status: str | None = None  # a recordingStatusChanged's status: started, stopped, ready, failed
    state: str  # delivered, retrying, dead-lettered, held back, replaced, ...
    attempts: int
    detail: str | None = None
    receivedAt: float
    updatedAt: float


class Journal:
    def __init__(self, dynamodb: Any, table: str | None, clock: Any = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def note(
        self, envelope: Envelope, event: OpenViduEvent | None, state: str, attempts: int, detail: str | None
    ) -> None:
        key = order_key(event)
        if not self._table or key is None:
            return
        now = self._clock()
        item = {
            "endpoint": {"S": PARTITION + key},
            "key": {"S": f"{envelope.received_at:017.6f}#{envelope.id}#{envelope.endpoint or '-'}"},
            "webhookId": {"S": envelope.id},
            "target": {"S": envelope.endpoint or "-"},
            "state": {"S": state[:200]},
            "attempts": {"N": str(attempts)},
            "receivedAt": {"N": f"{envelope.received_at:.6f}"},
            "updatedAt": {"N": f"{now:.6f}"},
            "expiresAt": {"N": str(int(now + KEEP_S))},
        }
        for name, value in (("event", event.event if event else None), ("status", event and event.status)):
            if value:
                item[name] = {"S": str(value)}
        if detail:
            item["detail"] = {"S": detail[:500]}
        try:
            self._db.put_item(TableName=self._table, Item=item)
        except Exception as error:  # delivering never waits on the journal
            log.warning("could not note webhook %s (%s): %s", envelope.id, state, error)

    def of(self, recording_id: str) -> list[Delivery]:
        """A recording's webhooks, in the order they came in."""
        if not self._table:
            return []
        deliveries: list[Delivery] = []
        paginator = self._db.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="endpoint = :p",
            ExpressionAttributeValues={":p": {"S": PARTITION + recording_order_key(recording_id)}},
        ):
            for item in page.get("Items", []):
                deliveries.append(
                    Delivery(
                        webhookId=item["webhookId"]["S"],
                        endpoint=item["target"]["S"],
                        event=item.get("event", {}).get("S"),
                        status=item.get("status", {}).get("S"),
                        state=item["state"]["S"],
                        attempts=int(item["attempts"]["N"]),
                        detail=item.get("detail", {}).get("S"),
                        receivedAt=float(item["receivedAt"]["N"]),
                        updatedAt=float(item["updatedAt"]["N"]),
                    )
                )
        return deliveries
