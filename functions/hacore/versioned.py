"""One versioned-item store for every entity the controller keeps (sessions, standbys, the guard).

Every change is read, decide, then one conditional put on `version`: of two writers that read
the same item, exactly one wins, and the loser re-reads and decides again (`decide`). That is
what makes takeovers exactly-once, heartbeats safe against a concurrent claim and a standby
given to one session only. An item past its `expiresAt` is absent to every read and may be
written over (DynamoDB deletes expired items lazily, within a day or two).

Two implementations behind one protocol (`Items`): DynamoDB (`DynamoItems`) and memory
(`MemoryItems`, for unit tests and a bare local run). A `Codec` per entity says how a record
becomes the item's attributes and back: the stores know nothing of sessions or standbys.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from hacore.errors import ConcurrentUpdate

T = TypeVar("T")
MAX_WRITE_ATTEMPTS = 10
BATCH_GET_MAX = 100  # DynamoDB's BatchGetItem limit

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_dynamo(value: Any) -> Any:
    """Plain values DynamoDB takes: floats as Decimals (to the millisecond), no Nones."""
    if isinstance(value, float):
        return Decimal(repr(round(value, 3)))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """Back from DynamoDB's Decimals: whole numbers as ints, the rest as floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def serialize(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in to_dynamo(data).items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How one entity is kept: its key attribute, and its record to and from plain attributes."""

    key: str
    dump: Callable[[T], dict[str, Any]]
    load: Callable[[dict[str, Any]], T]
    version: Callable[[T], int]


class Items(Protocol[T]):
    """Versioned items of one entity. `put` is the only write that changes an item."""

    codec: Codec[T]

    def find(self, key: str) -> T | None:
        """The record, or None when there is none or it has expired."""

    def find_many(self, keys: list[str]) -> list[T]:
        """Those of `keys` that exist and have not expired, in no particular order."""

    def scan(self, prefix: str = "") -> list[T]:
        """Every live record whose key starts with `prefix` (for a table as small as the standby
        pool, or a few kinds of item sharing one, as the control table's)."""

    def put(self, record: T, expected: int | None) -> bool:
        """Writes `record` if the stored version is `expected` (None: if there is none, or it has
        expired). False: another writer changed it first."""

    def delete(self, key: str, expired_by: float | None = None) -> bool:
        """Deletes the item (only if it expired by `expired_by`, when given). False: it was not
        there (or has not expired)."""


class DynamoItems(Generic[T]):
    """The items in a DynamoDB table. The client is created once by the caller and passed in."""

    def __init__(self, client: Any, table: str, codec: Codec[T], clock: Callable[[], float] = time.time):
        self.db = client
        self.table = table
        self.codec = codec
        self._clock = clock

    def _live(self, data: dict[str, Any]) -> bool:
        expires = data.get("expiresAt")
        return not expires or expires > self._clock()

    def find(self, key: str) -> T | None:
        reply = self.db.get_item(TableName=self.table, Key={self.codec.key: {"S": key}}, ConsistentRead=True)
        item = reply.get("Item")
        if item is None:
            return None
        data = deserialize(item)
        return self.codec.load(data) if self._live(data) else None

    def find_many(self, keys: list[str]) -> list[T]:
        """Consistent batch reads (indexes lag; items do not)."""
        found: list[T] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            chunk = keys[start : start + BATCH_GET_MAX]
            pending: dict[str, Any] = {
                self.table: {"Keys": [{self.codec.key: {"S": k}} for k in chunk], "ConsistentRead": True}
            }
            while pending:
                reply = self.db.batch_get_item(RequestItems=pending)
                for item in reply["Responses"].get(self.table, []):
                    data = deserialize(item)
                    if self._live(data):
                        found.append(self.codec.load(data))
                pending = reply.get("UnprocessedKeys") or {}
        return found

    def scan(self, prefix: str = "") -> list[T]:
        found: list[T] = []
        only: dict[str, Any] = (
            {
                "FilterExpression": "begins_with(#k, :p)",
                "ExpressionAttributeNames": {"#k": self.codec.key},
                "ExpressionAttributeValues": {":p": {"S": prefix}},
            }
            if prefix
            else {}
        )
        pages = self.db.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True, **only)
        for page in pages:
            found.extend(self.codec.load(d) for d in map(deserialize, page.get("Items", [])) if self._live(d))
        return found

    def put(self, record: T, expected: int | None) -> bool:
        now = self._clock()
        if expected is None:
            condition = "attribute_not_exists(#k) OR expiresAt <= :now"
            values = {":now": {"N": str(int(now))}}
        else:
            condition, values = "version = :v", {":v": {"N": str(expected)}}
        return self._conditional(
            self.db.put_item,
            Item=serialize(self.codec.dump(record)),
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": {"#k": self.codec.key}} if expected is None else {}),
        )

    def delete(self, key: str, expired_by: float | None = None) -> bool:
        condition: dict[str, Any] = (
            {
                "ConditionExpression": "attribute_exists(#k)",
                "ExpressionAttributeNames": {"#k": self.codec.key},
            }
            if expired_by is None
            else {
                "ConditionExpression": "expiresAt <= :now",
                "ExpressionAttributeValues": {":now": {"N": str(expired_by)}},
            }
        )
        return self._conditional(self.db.delete_item, Key={self.codec.key: {"S": key}}, **condition)

    def _conditional(self, call: Callable[..., Any], **request: Any) -> bool:
        try:
            call(TableName=self.table, **request)
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True


class MemoryItems(Generic[T]):
    """The same items in a dict: what a unit test or a run without a table keeps."""

    def __init__(self, codec: Codec[T], clock: Callable[[], float] = time.time) -> None:
        self.codec = codec
        self._clock = clock
        self._items: dict[str, dict[str, Any]] = {}

    def _live(self, key: str) -> dict[str, Any] | None:
        data = self._items.get(key)
        if data is None or (data.get("expiresAt") and data["expiresAt"] <= self._clock()):
            return None
        return data

    def find(self, key: str) -> T | None:
        data = self._live(key)
        return None if data is None else self.codec.load(copy.deepcopy(data))

    def find_many(self, keys: list[str]) -> list[T]:
        return [record for record in map(self.find, keys) if record is not None]

    def scan(self, prefix: str = "") -> list[T]:
        return self.find_many([key for key in self._items if key.startswith(prefix)])

    def put(self, record: T, expected: int | None) -> bool:
        data = to_plain(self.codec.dump(record))
        current = self._live(data[self.codec.key])
        stored = None if current is None else int(current.get("version", 0))
        if stored != expected:
            return False
        self._items[data[self.codec.key]] = data
        return True

    def delete(self, key: str, expired_by: float | None = None) -> bool:
        data = self._items.get(key)
        if data is None:
            return False
        if expired_by is not None and (data.get("expiresAt") is None or data["expiresAt"] > expired_by):
            return False  # as DynamoDB's `expiresAt <= :now`: an item without one never expired
        del self._items[key]
        return True


def to_plain(data: dict[str, Any]) -> dict[str, Any]:
    """What a round trip through DynamoDB leaves of `data` (no Nones, floats to the millisecond)."""
    return from_dynamo(to_dynamo(data))  # both build new containers: `data` is left as it was


def decide(
    items: Items[T],
    key: str,
    rule: Callable[[T | None, float], T],
    stamp: Callable[[T, T | None, float], T],
    clock: Callable[[], float] = time.time,
    seen: T | None = None,
) -> T:
    """Applies `rule` to the current record (None if there is none) with optimistic concurrency.

    `rule` gets the record and the time and returns it unchanged (nothing is written) or a
    changed copy; it may raise to refuse. `stamp(changed, current, now)` adds what the store
    owns (the next version, the TTL). `seen`: the record as a write just found it, tried first
    instead of a read.
    """
    for attempt in range(MAX_WRITE_ATTEMPTS):
        if attempt:  # lost a race: back off a little, with jitter, so that racers spread out
            time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
        current = seen if attempt == 0 and seen is not None else items.find(key)
        now = clock()
        changed = rule(current, now)
        if changed is current:
            return changed
        changed = stamp(changed, current, now)
        if items.put(changed, None if current is None else items.codec.version(current)):
            return changed
    raise ConcurrentUpdate(key)


def update(
    items: Items[T],
    key: str,
    rule: Callable[[T, float], T],
    stamp: Callable[[T, T | None, float], T],
    missing: Callable[[str], Exception],
    clock: Callable[[], float] = time.time,
    seen: T | None = None,
) -> T:
    """`decide` for a record that must exist: `missing(key)` is raised when there is none."""

    def existing(current: T | None, now: float) -> T:
        if current is None:
            raise missing(key)
        return rule(current, now)

    return decide(items, key, existing, stamp, clock, seen)
