"""Each endpoint's health, and what the relay keeps per endpoint while one is failing.

The rule: an endpoint that failed is probed, not hammered. Once a delivery fails, the endpoint
is `failing` and only the holder of the probe lease (one conditional write) may try it, once
per probe interval at most; every other webhook that comes due meanwhile is held, which counts
as its turn in the retry schedule without a request. A held webhook's receipt handle is parked
here, one per message group (a FIFO group has one message in flight), so that the probe that
finds the endpoint answering again wakes them all at once: nothing waits for its next retry,
nobody redrives by hand. A lost handle costs only time: the message still comes back on its
schedule.

One DynamoDB table, keyed by endpoint name and item key:
- `health`: state, failingSince, nextProbeAt, lastError, recoveredAt;
- `turns#<webhook id>`: the webhook's failed or held turns, for its place in the schedule;
- `parked#<group>`: the receipt handle of a held webhook.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

KEEP_S = 14 * 86_400  # what SQS keeps a message: past that, a turn count or a handle means nothing


class EndpointHealth(BaseModel):
    endpoint: str
    state: Literal["healthy", "failing"] = "healthy"
    failingSince: float | None = None
    nextProbeAt: float | None = None
    lastError: str | None = None
    lastFailureAt: float | None = None
    recoveredAt: float | None = None

    @property
    def failing(self) -> bool:
        return self.state == "failing"

    def down_s(self, now: float) -> float:
        return max(0.0, now - self.failingSince) if self.failing and self.failingSince else 0.0

    def view(self, now: float, unhealthy_after_s: float) -> dict[str, Any]:
        """What the status endpoint shows: `unhealthy` once failing for longer than the setting."""
        down = self.down_s(now)
        return {
            "name": self.endpoint,
            "health": "healthy"
            if not self.failing
            else ("unhealthy" if down >= unhealthy_after_s else "failing"),
            "failingSince": self.failingSince,
            "downSeconds": round(down, 1),
            "nextProbeAt": self.nextProbeAt if self.failing else None,
            # the status reply is public: the kind of failure, not the receiver's words (in the logs)
            "lastError": self.lastError.split(":", 1)[0] if self.lastError else None,
            "lastFailureAt": self.lastFailureAt,
            "recoveredAt": self.recoveredAt,
        }


def _number(item: dict[str, Any], name: str) -> float | None:
    return float(item[name]["N"]) if name in item else None


class EndpointState:
    def __init__(self, dynamodb: Any, table: str | None, sqs: Any, queue_url: str | None) -> None:
        self._db = dynamodb
        self._name = table
        self._sqs = sqs
        self._queue = queue_url

    @property
    def configured(self) -> bool:
        return bool(self._name)

    @property
    def _table(self) -> str:
        if not self._name:
            raise ValueError("WEBHOOK_STATE_TABLE is not set (the template sets it)")
        return self._name

    def _key(self, endpoint: str, key: str) -> dict[str, Any]:
        return {"endpoint": {"S": endpoint}, "key": {"S": key}}

    def health(self, endpoint: str) -> EndpointHealth:
        item = self._db.get_item(TableName=self._table, Key=self._key(endpoint, "health")).get("Item", {})
        return EndpointHealth(
            endpoint=endpoint,
            state="failing" if item.get("state", {}).get("S") == "failing" else "healthy",
            failingSince=_number(item, "failingSince"),
            nextProbeAt=_number(item, "nextProbeAt"),
            lastError=item.get("lastError", {}).get("S"),
            lastFailureAt=_number(item, "lastFailureAt"),
            recoveredAt=_number(item, "recoveredAt"),
        )

    def claim_probe(self, endpoint: str, now: float, lease_s: float) -> bool:
        """True for the one caller that may try the failing endpoint now; the lease covers its
        request, so a second caller cannot probe meanwhile (nor after a crash, for long)."""
        claimed = self._update_health_if(
            endpoint,
            UpdateExpression="SET nextProbeAt = :lease",
            ConditionExpression="#s = :failing AND nextProbeAt <= :now",
            ExpressionAttributeValues={
                ":lease": {"N": f"{now + lease_s:.3f}"},
                ":failing": {"S": "failing"},
                ":now": {"N": f"{now:.3f}"},
            },
        )
        return claimed is not None

    def failed(self, endpoint: str, now: float, error: str, next_probe_at: float) -> None:
        """A delivery failed: the endpoint is failing (since the first such failure)."""
        self._db.update_item(
            TableName=self._table,
            Key=self._key(endpoint, "health"),
            UpdateExpression=(
                "SET #s = :failing, failingSince = if_not_exists(failingSince, :now), "
                "nextProbeAt = :next, lastError = :error, lastFailureAt = :now"
            ),
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":failing": {"S": "failing"},
                ":now": {"N": f"{now:.3f}"},
                ":next": {"N": f"{next_probe_at:.3f}"},
                ":error": {"S": error[:500]},
            },
        )

    def recovered(self, endpoint: str, now: float) -> float | None:
        """The failing endpoint answered: healthy again. Returns since when it had failed, for
        the one caller that made the change (None for everyone else)."""
        before = self._update_health_if(
            endpoint,
            UpdateExpression="SET #s = :healthy, recoveredAt = :now REMOVE failingSince, nextProbeAt",
            ConditionExpression="#s = :failing",
            ExpressionAttributeValues={
                ":healthy": {"S": "healthy"},
                ":failing": {"S": "failing"},
                ":now": {"N": f"{now:.3f}"},
            },
            ReturnValues="ALL_OLD",
        )
        if before is None:
            return None
        return _number(before.get("Attributes", {}), "failingSince") or now

    def _update_health_if(self, endpoint: str, **update: Any) -> dict[str, Any] | None:
        """A conditional update of the health item: DynamoDB's reply, or None if the condition failed."""
        try:
            return dict(
                self._db.update_item(
                    TableName=self._table,
                    Key=self._key(endpoint, "health"),
                    ExpressionAttributeNames={"#s": "state"},
                    **update,
                )
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise

    def count_turn(self, endpoint: str, webhook_id: str, now: float) -> int:
        """One more failed (or held) turn of this webhook; returns how many it has had."""
        reply = self._db.update_item(
            TableName=self._table,
            Key=self._key(endpoint, f"turns#{webhook_id}"),
            UpdateExpression="ADD turns :one SET expiresAt = :expires",
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(int(now + KEEP_S))}},
            ReturnValues="UPDATED_NEW",
        )
        return int(reply["Attributes"]["turns"]["N"])

    def park(self, endpoint: str, group: str, receipt_handle: str, now: float) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **self._key(endpoint, f"parked#{group}"),
                "handle": {"S": receipt_handle},
                "expiresAt": {"N": str(int(now + KEEP_S))},
            },
        )

    def parked(self, endpoint: str) -> list[tuple[str, str]]:
        """(item key, receipt handle) of every parked webhook of the endpoint."""
        found, start = [], None
        while True:
            page = self._db.query(
                TableName=self._table,
                KeyConditionExpression="#e = :e AND begins_with(#k, :p)",
                ExpressionAttributeNames={"#e": "endpoint", "#k": "key"},
                ExpressionAttributeValues={":e": {"S": endpoint}, ":p": {"S": "parked#"}},
                **({"ExclusiveStartKey": start} if start else {}),
            )
            found += [(i["key"]["S"], i["handle"]["S"]) for i in page.get("Items", [])]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def wake(self, endpoint: str) -> int:
        """Makes every parked webhook of the endpoint visible now; returns how many still were."""
        woken = 0
        for key, handle in self.parked(endpoint):
            with contextlib.suppress(ClientError):  # delivered since, or received again: stale
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue, ReceiptHandle=handle, VisibilityTimeout=0
                )
                woken += 1
            self._db.delete_item(TableName=self._table, Key=self._key(endpoint, key))
        return woken
