"""The session store: one DynamoDB item per recording.

Every change is read, modify, then one conditional put on `version`: of two writers
that read the same item, exactly one wins, and the loser re-reads. That is what makes
takeovers exactly-once and heartbeats safe against a concurrent claim.

Four sparse, sharded, keys-only indexes keep reads proportional to what is asked:
`ByList` (active / inactive listings and counts); `WatchByHeartbeat` and `WatchByChunk`
(the detector's candidates: only STARTING / RECORDING sessions carry `watchShard`);
`ClaimsByExpiry` (every session with a lifecycle deadline, by when it passes: a takeover's
claim, a held `failed`, a terminal decided and not yet queued, an ended recording still owed
its terminal; `hacore.lifecycle`).
Items past their TTL are treated as absent by every read.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from hacore.errors import ConcurrentUpdate, SessionExists, SessionNotFound, StaleEpoch
from hacore.lifecycle import Due, deadline, due_for, settle
from hacore.models import (
    FailoverEvent,
    HeartbeatRequest,
    RegisterRequest,
    SessionRecord,
    Status,
    chunk_index,
)
from hacore.settings import Settings

SHARDS = 4
LIST_INDEX = "ByList"
WATCH_HEARTBEAT_INDEX = "WatchByHeartbeat"
WATCH_CHUNK_INDEX = "WatchByChunk"
CLAIMS_INDEX = "ClaimsByExpiry"
JSON_TEXT_FIELDS = (
    "recordingJson",
    "environment",
    "metadata",
    "final",
    "heldWebhook",
    "terminal",
    "captureHealth",
)
MAX_WRITE_ATTEMPTS = 10

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def shard_of(session_id: str) -> int:
    return zlib.crc32(session_id.encode()) % SHARDS


def list_key(active: bool, shard: int) -> str:
    return f"{'A' if active else 'I'}#{shard}"


def watch_key(shard: int) -> str:
    return f"W#{shard}"


def claim_key(shard: int) -> str:
    return f"C#{shard}"


def to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(round(value, 3)))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_dynamo(v) for v in value]
    return value


def to_item(record: SessionRecord) -> dict[str, Any]:
    """The DynamoDB item: JSON-valued fields as text, index keys derived from the status."""
    data = record.model_dump(mode="python", exclude_none=True)
    data["status"] = record.status.value
    for field in JSON_TEXT_FIELDS:
        if field in data:
            data[field] = json.dumps(data[field], separators=(",", ":"))
    shard = shard_of(record.sessionId)
    data["listKey"] = list_key(record.active, shard)
    if record.status.watched:
        data["watchShard"] = watch_key(shard)
    due = deadline(record)  # the lifecycle's: a claim, a hold, the outbox, a terminal owed
    if due is not None:
        data["claimShard"] = claim_key(shard)
        data["claimExpiresAt"] = due
    return {k: _serializer.serialize(v) for k, v in to_dynamo(data).items()}


def from_item(item: dict[str, Any]) -> SessionRecord:
    data = {k: _deserializer.deserialize(v) for k, v in item.items()}
    for field in JSON_TEXT_FIELDS:
        if isinstance(data.get(field), str):
            data[field] = json.loads(data[field])
    record = SessionRecord.model_validate(data)
    if due_for(record) not in (Due.CLAIM, Due.HOLD):  # the index's copy of another deadline
        record = record.model_copy(update={"claimExpiresAt": None})
    return record


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class SessionStore:
    """Sessions in DynamoDB. The client is created once by the caller and passed in."""

    def __init__(
        self,
        client: Any,
        table: str,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = client
        self._table = table
        self._settings = settings
        self._clock = clock

    # --- reads --------------------------------------------------------------------

    def get(self, session_id: str) -> SessionRecord:
        record = self.find(session_id)
        if record is None:
            raise SessionNotFound(session_id)
        return record

    def find(self, session_id: str) -> SessionRecord | None:
        reply = self._db.get_item(
            TableName=self._table, Key={"sessionId": {"S": session_id}}, ConsistentRead=True
        )
        item = reply.get("Item")
        if item is None:
            return None
        record = from_item(item)
        return None if record.expired(self._clock()) else record

    def list(self, active: bool) -> list[SessionRecord]:
        keys = [key for shard in range(SHARDS) for key in self._list_keys(list_key(active, shard))]
        return self._fetch(keys)

    def list_all(self) -> list[SessionRecord]:
        records = self.list(True) + self.list(False)
        return sorted(records, key=lambda r: r.createdAt)

    def counts(self) -> tuple[int, int]:
        """(active, inactive), from the listing index alone."""
        now = self._clock()
        totals = []
        for active in (True, False):
            total = 0
            for shard in range(SHARDS):
                for page in self._query_pages(
                    IndexName=LIST_INDEX,
                    KeyConditionExpression="listKey = :k",
                    FilterExpression="expiresAt > :now",
                    ExpressionAttributeValues={":k": {"S": list_key(active, shard)}, ":now": {"N": str(now)}},
                    Select="COUNT",
                ):
                    total += page["Count"]
            totals.append(total)
        return totals[0], totals[1]

    def watched_count(self) -> int:
        """How many sessions the detector watches (STARTING, RECORDING): keys-only index counts."""
        total = 0
        for shard in range(SHARDS):
            for page in self._query_pages(
                IndexName=WATCH_HEARTBEAT_INDEX,
                KeyConditionExpression="watchShard = :p",
                ExpressionAttributeValues={":p": {"S": watch_key(shard)}},
                Select="COUNT",
            ):
                total += page["Count"]
        return total

    def quiet_ids(self, heartbeat_cutoff: float) -> list[str]:
        """Watched sessions not heard since `heartbeat_cutoff`: keys only, so the read grows with
        the quiet ones (none in a healthy fleet), not with the fleet."""
        ids: list[str] = []
        for shard in range(SHARDS):
            for page in self._query_pages(
                IndexName=WATCH_HEARTBEAT_INDEX,
                KeyConditionExpression="watchShard = :p AND lastHeartbeatAt <= :cutoff",
                ExpressionAttributeValues={
                    ":p": {"S": watch_key(shard)},
                    ":cutoff": {"N": str(heartbeat_cutoff)},
                },
            ):
                ids.extend(item["sessionId"]["S"] for item in page["Items"])
        return ids

    def stale_candidates(self, heartbeat_cutoff: float, chunk_cutoff: float, now: float) -> set[str]:
        """Ids that may need a takeover: silent since `heartbeat_cutoff`, no new chunk since
        `chunk_cutoff`, or a lapsed claim. The reads grow with the ids returned, not with the
        sessions watched; the caller re-reads each one and applies the rules.
        """
        ids: set[str] = set()
        for index, attribute, key, cutoff in (
            (WATCH_HEARTBEAT_INDEX, "lastHeartbeatAt", watch_key, heartbeat_cutoff),
            (WATCH_CHUNK_INDEX, "lastChunkChangedAt", watch_key, chunk_cutoff),
            (CLAIMS_INDEX, "claimExpiresAt", claim_key, now),
        ):
            partition = "claimShard" if index == CLAIMS_INDEX else "watchShard"
            for shard in range(SHARDS):
                for page in self._query_pages(
                    IndexName=index,
                    KeyConditionExpression=f"{partition} = :p AND #t <= :cutoff",
                    ExpressionAttributeNames={"#t": attribute},
                    ExpressionAttributeValues={":p": {"S": key(shard)}, ":cutoff": {"N": str(cutoff)}},
                ):
                    ids.update(item["sessionId"]["S"] for item in page["Items"])
        return ids

    def _list_keys(self, key: str) -> Iterator[str]:
        for page in self._query_pages(
            IndexName=LIST_INDEX,
            KeyConditionExpression="listKey = :k",
            ExpressionAttributeValues={":k": {"S": key}},
        ):
            yield from (item["sessionId"]["S"] for item in page["Items"])

    def _query_pages(self, **query: Any) -> Iterator[dict[str, Any]]:
        paginator = self._db.get_paginator("query")
        yield from paginator.paginate(TableName=self._table, **query)

    def _fetch(self, session_ids: list[str]) -> list[SessionRecord]:
        """Consistent batch reads of the items an index named (indexes lag; items do not)."""
        now = self._clock()
        records = []
        for start in range(0, len(session_ids), 100):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [{"sessionId": {"S": sid}} for sid in session_ids[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                reply = self._db.batch_get_item(RequestItems=pending)
                records.extend(from_item(item) for item in reply["Responses"].get(self._table, []))
                pending = reply.get("UnprocessedKeys") or {}
        live = [r for r in records if not r.expired(now)]
        return sorted(live, key=lambda r: r.createdAt)

    # --- writes -------------------------------------------------------------------

    def register(self, request: RegisterRequest) -> SessionRecord:
        now = self._clock()
        record = SessionRecord(
            sessionId=request.sessionId or "",
            clientId=request.clientId or "",
            clientHost=request.clientHost,
            uniqueSessionId=request.uniqueSessionId,
            originalSessionId=request.originalSessionId,
            status=request.initial_status,
            createdAt=now,
            updatedAt=now,
            lastHeartbeatAt=now,
            lastChunkChangedAt=now,
            recordingJson=request.recordingJson,
            environment=request.environment or {},
            metadata=request.metadata or {},
            expiresAt=self._expiry(request.initial_status, now),
        )
        record = settle(record, now, self._settings)  # registered as ended: a terminal is owed
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item(record),
                # An item past its TTL that DynamoDB has not deleted yet does not count.
                ConditionExpression="attribute_not_exists(sessionId) OR expiresAt <= :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                raise SessionExists(record.sessionId) from None
            raise
        return record

    def heartbeat(self, session_id: str, beat: HeartbeatRequest) -> SessionRecord:
        """The steady heartbeat (the recorder that owns a live session) is one conditional
        UpdateItem; anything else (a first chunk, a backup's first heartbeat, an older epoch, a
        chunk not newer than the stored one) goes through the read-modify-write below."""
        steady, seen = self._steady_heartbeat(session_id, beat)
        if steady is not None:
            return steady

        def change(record: SessionRecord, now: float) -> SessionRecord:
            if beat.epoch is not None and beat.epoch != record.epoch:
                raise StaleEpoch(session_id, beat.epoch, record.epoch)
            updates: dict[str, Any] = {"lastHeartbeatAt": now}
            advanced = False
            if beat.lastChunk is not None:
                index = chunk_index(beat.lastChunk)
                if record.lastChunkIndex is None or index > record.lastChunkIndex:
                    updates |= {
                        "lastChunk": beat.lastChunk,
                        "lastChunkIndex": index,
                        "lastChunkChangedAt": now,
                    }
                    advanced = True
            if record.status is Status.STARTING and advanced:
                updates["status"] = Status.RECORDING
            elif record.status is Status.FAILING_OVER and self._backup_is_beating(record, beat):
                # The backup owns the session now; its chunk clock starts with it.
                updates |= {
                    "status": Status.RECORDING,
                    "failovers": mark_last_failover(record.failovers, "running", runningAt=now),
                    "failoverAttempts": 0,
                    "claimExpiresAt": None,
                    "lastChunkChangedAt": now,
                }
            if beat.captureRestarts is not None and beat.captureRestarts > record.captureRestarts:
                updates["captureRestarts"] = beat.captureRestarts
            if beat.captureHealth is not None and beat.captureHealth != record.captureHealth:
                updates["captureHealth"] = beat.captureHealth
            updated = record.model_copy(update=updates)
            updated._restarts_added = max(0, (beat.captureRestarts or 0) - record.captureRestarts)
            return updated

        return self.mutate(session_id, change, seen)

    def _steady_heartbeat(
        self, session_id: str, beat: HeartbeatRequest
    ) -> tuple[SessionRecord | None, SessionRecord | None]:
        """What `heartbeat`'s rules do to a RECORDING session whose recorder heartbeats with its own
        epoch and a newer chunk (or none), in one write whose condition is exactly that case.
        Without a chunk, a STARTING session is steady too (no chunk, no status change).
        (the updated record, None), or (None, the item as the failed condition saw it, if it
        exists): then the rules judge it, from that item, without another read."""
        now = self._clock()
        expires = self._expiry(Status.RECORDING, now)  # STARTING's too: both are live
        sets = ["lastHeartbeatAt = :now", "updatedAt = :now", "expiresAt = :expires"]
        conditions = ["expiresAt > :now"]  # an expired item is absent
        values: dict[str, Any] = {
            ":now": {"N": str(to_dynamo(now))},
            ":expires": {"N": str(expires)},
            ":recording": {"S": Status.RECORDING.value},
            ":one": {"N": "1"},
        }
        changes: dict[str, Any] = {"lastHeartbeatAt": now, "updatedAt": now}
        if beat.lastChunk is not None:
            index = chunk_index(beat.lastChunk)
            sets += ["lastChunk = :chunk", "lastChunkIndex = :index", "lastChunkChangedAt = :now"]
            conditions += [
                "#status = :recording",
                "(attribute_not_exists(lastChunkIndex) OR lastChunkIndex < :index)",
            ]
            values |= {":chunk": {"S": beat.lastChunk}, ":index": {"N": str(index)}}
            changes |= {"lastChunk": beat.lastChunk, "lastChunkIndex": index, "lastChunkChangedAt": now}
        else:
            conditions.append("#status IN (:recording, :starting)")
            values[":starting"] = {"S": Status.STARTING.value}
        if beat.epoch is not None:
            conditions.append("epoch = :epoch")
            values[":epoch"] = {"N": str(beat.epoch)}
        if beat.captureRestarts is not None:
            sets.append("captureRestarts = :restarts")
            conditions.append("(attribute_not_exists(captureRestarts) OR captureRestarts <= :restarts)")
            values[":restarts"] = {"N": str(beat.captureRestarts)}
            changes["captureRestarts"] = beat.captureRestarts
        if beat.captureHealth is not None:
            sets.append("captureHealth = :health")
            values[":health"] = {"S": json.dumps(beat.captureHealth, separators=(",", ":"))}
            changes["captureHealth"] = beat.captureHealth
        try:
            reply = self._db.update_item(
                TableName=self._table,
                Key={"sessionId": {"S": session_id}},
                UpdateExpression=f"SET {', '.join(sets)} ADD version :one",
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _is_condition_failure(error):
                item = error.response.get("Item")
                return None, from_item(item) if item else None
            raise
        before = from_item(reply["Attributes"])
        changes |= {"version": before.version + 1, "expiresAt": expires}  # what was written
        record = before.model_copy(update=changes)
        record._restarts_added = max(0, (beat.captureRestarts or 0) - before.captureRestarts)
        return record, None

    @staticmethod
    def _backup_is_beating(record: SessionRecord, beat: HeartbeatRequest) -> bool:
        """During a takeover, only the backup may end FAILING_OVER.

        An epoch-aware backup says so with the current epoch; a legacy backup (no epoch)
        shows it by reporting a chunk at or past the start chunk it was given.
        """
        if beat.epoch is not None:
            return beat.epoch == record.epoch
        if beat.lastChunk is None or not record.failovers:
            return False
        return chunk_index(beat.lastChunk) >= int(record.failovers[-1].startChunk)

    def set_status(self, session_id: str, status: Status) -> SessionRecord:
        return self.mutate(session_id, lambda record, now: record.model_copy(update={"status": status}))

    def set_recording_path(self, session_id: str, path: str) -> SessionRecord:
        return self.mutate(session_id, lambda record, now: record.model_copy(update={"recordingPath": path}))

    def delete(self, session_id: str) -> SessionRecord:
        record = self.get(session_id)
        try:
            self._db.delete_item(
                TableName=self._table,
                Key={"sessionId": {"S": session_id}},
                ConditionExpression="attribute_exists(sessionId)",
            )
        except ClientError as error:
            if _is_condition_failure(error):
                raise SessionNotFound(session_id) from None
            raise
        return record

    def cleanup(self) -> int:
        """Deletes the items whose TTL has passed (DynamoDB would, within a day or two)."""
        now = self._clock()
        removed = 0
        for active in (True, False):
            for shard in range(SHARDS):
                for page in self._query_pages(
                    IndexName=LIST_INDEX,
                    KeyConditionExpression="listKey = :k",
                    FilterExpression="expiresAt <= :now",
                    ExpressionAttributeValues={":k": {"S": list_key(active, shard)}, ":now": {"N": str(now)}},
                ):
                    for item in page["Items"]:
                        removed += self._delete_if_expired(item["sessionId"]["S"], now)
        return removed

    def _delete_if_expired(self, session_id: str, now: float) -> int:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key={"sessionId": {"S": session_id}},
                ConditionExpression="expiresAt <= :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as error:
            if _is_condition_failure(error):  # a heartbeat revived it meanwhile
                return 0
            raise
        return 1

    def mutate(
        self,
        session_id: str,
        change: Callable[[SessionRecord, float], SessionRecord],
        seen: SessionRecord | None = None,
    ) -> SessionRecord:
        """Applies `change` to the current record with optimistic concurrency (see module doc).

        `change` gets the record and the time, and returns the record unchanged (nothing is
        written) or a modified copy; it may raise a DomainError to refuse. `seen`: the record as a
        write just found it (a failed condition returns the item), tried first instead of a read.
        """
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if attempt:  # lost a race: back off a little, with jitter, so that racers spread out
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
            fresh = seen if attempt == 0 and seen is not None and not seen.expired(self._clock()) else None
            current = fresh or self.get(session_id)
            now = self._clock()
            updated = change(current, now)
            if updated is current:
                return current
            updated = settle(updated, now, self._settings).model_copy(
                update={
                    "updatedAt": now,
                    "version": current.version + 1,
                    "expiresAt": self._expiry(updated.status, now),
                }
            )
            if self._put_if_unchanged(updated, current.version):
                return updated
        raise ConcurrentUpdate(session_id)

    def _put_if_unchanged(self, record: SessionRecord, version: int) -> bool:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item(record),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": {"N": str(version)}},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def _expiry(self, status: Status, now: float) -> int:
        """Activity pushes the TTL forward: a live session lives while it is heard from."""
        keep = self._settings.session_max_inactive_s if status.active else self._settings.session_retention_s
        return int(now + keep)


def mark_last_failover(failovers: list[FailoverEvent], outcome: str, **changes: Any) -> list[FailoverEvent]:
    """The history with its newest takeover's outcome (and any other fields) changed."""
    if not failovers:
        return failovers
    return [*failovers[:-1], failovers[-1].model_copy(update={"outcome": outcome, **changes})]
