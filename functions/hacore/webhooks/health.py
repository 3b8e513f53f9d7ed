"""Each endpoint's health, and what the relay keeps per endpoint while one is failing.

The rule: an endpoint that keeps failing is probed, not hammered. One that has answered nothing
but failures for OPENVIDU_WEBHOOK_FAILING_AFTER (a streak: any success ends it) is `failing`;
one that fails now and then (a flaky one) is never held back. While an endpoint is failing only
the holder of the probe lease (one conditional write) may try it, once per probe interval at
most; every other webhook that comes due meanwhile is held, which counts as its turn in the
retry schedule without a request. A held webhook's receipt handle is parked here, one per
message group (a FIFO group has one message in flight), so that the probe that finds the
endpoint answering again wakes them all at once: nothing waits for its next retry, nobody
redrives by hand. A lost handle costs only time: the message still comes back on its schedule.

One DynamoDB table, keyed by endpoint name and item key:
- `health`: failingSince (the streak's first failure), failingFrom (when the streak makes it
  failing), lastFailureAt, nextProbeAt, lastError, recoveredAt;
- `turns#<webhook id>`: the webhook's failed or held turns, for its place in the schedule;
- `parked#<group>`: the receipt handle of a held webhook.

The `health` item also keeps `dead`: {message group: the webhook id dead-lettered first}. While
a recording's webhook sits in the DLQ, that recording's later webhooks for the endpoint wait
behind it (parked in the DLQ too) instead of overtaking it; when it comes back (a redrive, by
hand or automatic, moves the group in its order) the relay clears the entry as it goes.
"""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

KEEP_S = 14 * 86_400  # what SQS keeps a message: past that, a turn count or a handle means nothing


class EndpointHealth(BaseModel):
    endpoint: str
    dead: dict[str, str] = {}  # message group -> the id of its webhook in the DLQ
    failingSince: float | None = None
    failingFrom: float | None = None
    nextProbeAt: float | None = None
    lastError: str | None = None
    lastFailureAt: float | None = None
    recoveredAt: float | None = None

    @property
    def failing(self) -> bool:
        """Failures only, for long enough: the streak's latest failure is past `failingFrom`."""
        return (
            self.failingFrom is not None
            and self.lastFailureAt is not None
            and self.lastFailureAt >= self.failingFrom
        )

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
            # recordings whose later webhooks wait behind one in the DLQ: a redrive restores them
            "recordingsWaitingBehindDeadLetters": len(self.dead),
        }


def _number(item: dict[str, Any], name: str) -> float | None:
    return float(item[name]["N"]) if name in item else None


def _health(endpoint: str, item: dict[str, Any]) -> EndpointHealth:
    return EndpointHealth(
        endpoint=endpoint,
        failingSince=_number(item, "failingSince"),
        failingFrom=_number(item, "failingFrom"),
        nextProbeAt=_number(item, "nextProbeAt"),
        lastError=item.get("lastError", {}).get("S"),
        lastFailureAt=_number(item, "lastFailureAt"),
        recoveredAt=_number(item, "recoveredAt"),
        dead={group: value["S"] for group, value in item.get("dead", {}).get("M", {}).items()},
    )


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
        return _health(endpoint, item)

    def claim_probe(self, endpoint: str, now: float, lease_s: float) -> bool:
        """True for the one caller that may try the failing endpoint now; the lease covers its
        request, so a second caller cannot probe meanwhile (nor after a crash, for long)."""
        claimed = self._update_health_if(
            endpoint,
            UpdateExpression="SET nextProbeAt = :lease",
            ConditionExpression="lastFailureAt >= failingFrom AND nextProbeAt <= :now",
            ExpressionAttributeValues={":lease": {"N": f"{now + lease_s:.3f}"}, ":now": {"N": f"{now:.3f}"}},
        )
        return claimed is not None

    def failed(
        self, endpoint: str, now: float, error: str, next_probe_at: float, failing_after_s: float
    ) -> None:
        """A delivery failed: a streak starts (or goes on); it makes the endpoint failing once it
        has lasted `failing_after_s` without a success."""
        self._db.update_item(
            TableName=self._table,
            Key=self._key(endpoint, "health"),
            UpdateExpression=(
                "SET failingSince = if_not_exists(failingSince, :now), "
                "failingFrom = if_not_exists(failingFrom, :from), "
                "nextProbeAt = :next, lastError = :error, lastFailureAt = :now"
            ),
            ExpressionAttributeValues={
                ":now": {"N": f"{now:.3f}"},
                ":from": {"N": f"{now + failing_after_s:.3f}"},
                ":next": {"N": f"{next_probe_at:.3f}"},
                ":error": {"S": error[:500]},
            },
        )

    def recovered(self, endpoint: str, now: float) -> EndpointHealth | None:
        """The endpoint answered: a streak of failures ends. Returns the health as it was, for
        the one caller that ended it (None for everyone else)."""
        before = self._update_health_if(
            endpoint,
            UpdateExpression="SET recoveredAt = :now REMOVE failingSince, failingFrom, nextProbeAt",
            ConditionExpression="attribute_exists(failingSince)",
            ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            ReturnValues="ALL_OLD",
        )
        return None if before is None else _health(endpoint, before.get("Attributes", {}))

    def _update_health_if(self, endpoint: str, **update: Any) -> dict[str, Any] | None:
        """A conditional update of the health item: DynamoDB's reply, or None if the condition failed."""
        try:
            return dict(
                self._db.update_item(
                    TableName=self._table,
                    Key=self._key(endpoint, "health"),
                    **update,
                )
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise

    def mark_dead(self, endpoint: str, group: str, webhook_id: str) -> None:
        """A webhook of `group` went to the DLQ: the group's later ones wait behind the first."""
        self._db.update_item(
            TableName=self._table,
            Key=self._key(endpoint, "health"),
            UpdateExpression="SET dead = if_not_exists(dead, :empty)",
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
        self._db.update_item(
            TableName=self._table,
            Key=self._key(endpoint, "health"),
            UpdateExpression="SET dead.#g = if_not_exists(dead.#g, :id)",
            ExpressionAttributeNames={"#g": group},
            ExpressionAttributeValues={":id": {"S": webhook_id}},
        )

    def clear_dead(self, endpoint: str, group: str, webhook_id: str) -> None:
        """The group's dead letter is back in the queue, ahead of the ones that waited for it."""
        self._update_health_if(
            endpoint,
            UpdateExpression="REMOVE dead.#g",
            ConditionExpression="dead.#g = :id",
            ExpressionAttributeNames={"#g": group},
            ExpressionAttributeValues={":id": {"S": webhook_id}},
        )

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
