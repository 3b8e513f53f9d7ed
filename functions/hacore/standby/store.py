"""Standbys in DynamoDB (STANDBY_TABLE, key `standbyId`): one item each, every change one
conditional put on `version`, as the session store does. The table stays as small as the pool
(a retired or accepted standby's item expires by TTL), so a scan is the cheapest listing."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from hacore.errors import ConcurrentUpdate
from hacore.standby.rules import RETENTION_S, StandbyGone, StandbyRecord
from hacore.store import to_dynamo

MAX_WRITE_ATTEMPTS = 10
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(record: StandbyRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_none=True)
    if "assignment" in data:
        data["assignment"] = json.dumps(data["assignment"], separators=(",", ":"))
    return {k: _serializer.serialize(v) for k, v in to_dynamo(data).items()}


def from_item(item: dict[str, Any]) -> StandbyRecord:
    data = {k: _deserializer.deserialize(v) for k, v in item.items()}
    if isinstance(data.get("assignment"), str):
        data["assignment"] = json.loads(data["assignment"])
    return StandbyRecord.model_validate(data)


class StandbyStore:
    def __init__(self, client: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._db = client
        self._table = table
        self._clock = clock

    def find(self, standby_id: str) -> StandbyRecord | None:
        reply = self._db.get_item(
            TableName=self._table, Key={"standbyId": {"S": standby_id}}, ConsistentRead=True
        )
        item = reply.get("Item")
        if item is None:
            return None
        record = from_item(item)
        return None if record.expiresAt and record.expiresAt <= self._clock() else record

    def all(self) -> list[StandbyRecord]:
        records, start = [], None
        while True:
            page = self._db.scan(
                TableName=self._table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {})
            )
            records.extend(from_item(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        now = self._clock()
        return [r for r in records if not r.expiresAt or r.expiresAt > now]

    def mutate(
        self,
        standby_id: str,
        change: Callable[[StandbyRecord | None, float], StandbyRecord],
        create: bool = False,
    ) -> StandbyRecord:
        """`change` gets the current record (None if there is none and `create`) and the time; it
        returns it unchanged (nothing is written) or a changed copy, or raises to refuse."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
            current = self.find(standby_id)
            if current is None and not create:
                raise StandbyGone(f"Standby {standby_id} is not known (or expired): exit")
            now = self._clock()
            updated = change(current, now)
            if updated is current:
                return updated
            version = current.version if current is not None else None
            updated = updated.model_copy(
                update={"version": (version or 0) + 1, "expiresAt": int(updated.lastSeenAt + RETENTION_S)}
            )
            if self._put_if(updated, version):
                return updated
        raise ConcurrentUpdate(standby_id)

    def _put_if(self, record: StandbyRecord, version: int | None) -> bool:
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(standbyId)"}
            if version is None
            else {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        )
        try:
            self._db.put_item(TableName=self._table, Item=to_item(record), **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
