"""The session store: one versioned item per recording (`hacore.versioned`), the rules of
`hacore.sessions.rules` applied by `decide`, and the index queries the API and the detector
read (`hacore.sessions.item`). Items past their TTL are treated as absent by every read.

The steady heartbeat (the owner of a live session, a newer chunk or none) is the one write that
does not read first: one conditional UpdateItem whose condition is `rules.is_steady`. When the
condition fails, the item it saw is judged by the rules without another read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from hacore.errors import SessionExists, SessionNotFound
from hacore.lifecycle import settle
from hacore.models import Beat, Registration, SessionRecord, Status, chunk_index
from hacore.sessions import item, rules
from hacore.sessions.item import (
    CLAIMS_INDEX,
    LIST_INDEX,
    SHARDS,
    WATCH_CHUNK_INDEX,
    WATCH_HEARTBEAT_INDEX,
    claim_key,
    list_key,
    watch_key,
)
from hacore.settings import Settings
from hacore.versioned import DynamoItems, deserialize, is_condition_failure, to_dynamo, update

Rule = Callable[[SessionRecord, float], SessionRecord]
D = TypeVar("D")


class SessionStore:
    """Sessions in DynamoDB. The client is created once by the caller and passed in."""

    def __init__(
        self,
        client: Any,
        table: str,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.items = DynamoItems(client, table, item.CODEC, clock)

    # --- reads --------------------------------------------------------------------

    def get(self, session_id: str) -> SessionRecord:
        record = self.find(session_id)
        if record is None:
            raise SessionNotFound(session_id)
        return record

    def find(self, session_id: str) -> SessionRecord | None:
        return self.items.find(session_id)

    def list(self, active: bool) -> list[SessionRecord]:
        keys = [key for shard in range(SHARDS) for key in self._list_keys(list_key(active, shard))]
        return sorted(self.items.find_many(keys), key=lambda r: r.createdAt)

    def list_all(self) -> list[SessionRecord]:
        records = self.list(True) + self.list(False)
        return sorted(records, key=lambda r: r.createdAt)

    def counts(self) -> tuple[int, int]:
        """(active, inactive), from the listing index alone."""
        now = self._clock()

        def total(active: bool) -> int:
            return sum(
                self._count(
                    IndexName=LIST_INDEX,
                    KeyConditionExpression="listKey = :k",
                    FilterExpression="expiresAt > :now",
                    ExpressionAttributeValues={":k": {"S": list_key(active, shard)}, ":now": {"N": str(now)}},
                )
                for shard in range(SHARDS)
            )

        return total(True), total(False)

    def watched_count(self) -> int:
        """How many sessions the detector watches (STARTING, RECORDING): keys-only index counts."""
        return sum(
            self._count(
                IndexName=WATCH_HEARTBEAT_INDEX,
                KeyConditionExpression="watchShard = :p",
                ExpressionAttributeValues={":p": {"S": watch_key(shard)}},
            )
            for shard in range(SHARDS)
        )

    def quiet_ids(self, heartbeat_cutoff: float) -> list[str]:
        """Watched sessions not heard since `heartbeat_cutoff`: keys only, so the read grows with
        the quiet ones (none in a healthy fleet), not with the fleet."""
        return [
            session_id
            for shard in range(SHARDS)
            for session_id in self._ids(
                IndexName=WATCH_HEARTBEAT_INDEX,
                KeyConditionExpression="watchShard = :p AND lastHeartbeatAt <= :cutoff",
                ExpressionAttributeValues={
                    ":p": {"S": watch_key(shard)},
                    ":cutoff": {"N": str(heartbeat_cutoff)},
                },
            )
        ]

    def stale_candidates(self, heartbeat_cutoff: float, chunk_cutoff: float, now: float) -> set[str]:
        """Ids that may need a takeover: silent since `heartbeat_cutoff`, no new chunk since
        `chunk_cutoff`, or a lapsed deadline. The reads grow with the ids returned, not with the
        sessions watched; the caller re-reads each one and applies the rules.
        """
        ids: set[str] = set()
        for index, attribute, partition, key, cutoff in (
            (WATCH_HEARTBEAT_INDEX, "lastHeartbeatAt", "watchShard", watch_key, heartbeat_cutoff),
            (WATCH_CHUNK_INDEX, "lastChunkChangedAt", "watchShard", watch_key, chunk_cutoff),
            (CLAIMS_INDEX, "claimExpiresAt", "claimShard", claim_key, now),
        ):
            for shard in range(SHARDS):
                ids.update(
                    self._ids(
                        IndexName=index,
                        KeyConditionExpression=f"{partition} = :p AND #t <= :cutoff",
                        ExpressionAttributeNames={"#t": attribute},
                        ExpressionAttributeValues={":p": {"S": key(shard)}, ":cutoff": {"N": str(cutoff)}},
                    )
                )
        return ids

    def _list_keys(self, key: str) -> Iterator[str]:
        return self._ids(
            IndexName=LIST_INDEX,
            KeyConditionExpression="listKey = :k",
            ExpressionAttributeValues={":k": {"S": key}},
        )

    def _ids(self, **query: Any) -> Iterator[str]:
        for page in self.items.db.get_paginator("query").paginate(TableName=self.items.table, **query):
            yield from (found["sessionId"]["S"] for found in page["Items"])

    def _count(self, **query: Any) -> int:
        pages = self.items.db.get_paginator("query").paginate(
            TableName=self.items.table, Select="COUNT", **query
        )
        return sum(page["Count"] for page in pages)

    # --- writes -------------------------------------------------------------------

    def register(self, request: Registration) -> SessionRecord:
        now = self._clock()
        record = self._stamp(rules.new_session(request, now, self._settings.redundant_recording), None, now)
        if not self.items.put(record, None):  # an item past its TTL does not count
            raise SessionExists(record.sessionId)
        return record

    def heartbeat(
        self, session_id: str, beat: Beat, handover_ready: rules.HandoverReady = rules.always_ready
    ) -> SessionRecord:
        """The steady case in one write (module doc); anything else through the rules."""
        steady, seen = self._steady_heartbeat(session_id, beat)
        if steady is not None:
            return steady
        return self.decide(
            session_id, lambda record, now: rules.apply_heartbeat(record, beat, now, handover_ready), seen
        )

    def set_status(self, session_id: str, status: Status) -> SessionRecord:
        return self.decide(session_id, lambda record, now: rules.report(record, status))

    def set_recording_path(self, session_id: str, path: str) -> SessionRecord:
        return self.decide(session_id, lambda record, now: record.model_copy(update={"recordingPath": path}))

    def delete(self, session_id: str) -> SessionRecord:
        record = self.get(session_id)
        if not self.items.delete(session_id):
            raise SessionNotFound(session_id)
        return record

    def cleanup(self) -> int:
        """Deletes the items whose TTL has passed (DynamoDB would, within a day or two); one that
        a heartbeat revived meanwhile stays."""
        now = self._clock()
        expired = [
            session_id
            for active in (True, False)
            for shard in range(SHARDS)
            for session_id in self._ids(
                IndexName=LIST_INDEX,
                KeyConditionExpression="listKey = :k",
                FilterExpression="expiresAt <= :now",
                ExpressionAttributeValues={":k": {"S": list_key(active, shard)}, ":now": {"N": str(now)}},
            )
        ]
        return sum(self.items.delete(session_id, expired_by=now) for session_id in expired)

    def decide(self, session_id: str, rule: Rule, seen: SessionRecord | None = None) -> SessionRecord:
        """Applies `rule` to the current record with optimistic concurrency (`versioned.decide`).

        `rule` gets the record and the time, and returns the record unchanged (nothing is written)
        or a changed copy; it may raise a DomainError to refuse. `seen`: the record as a write just
        found it (a failed condition returns the item), tried first instead of a read.
        """
        live = seen if seen is not None and not seen.expired(self._clock()) else None
        return update(self.items, session_id, rule, self._stamp, SessionNotFound, self._clock, live)

    def decide_with(
        self, session_id: str, rule: Callable[[SessionRecord, float], tuple[SessionRecord, D]]
    ) -> tuple[SessionRecord, D | None]:
        """As `decide`, for a rule that also says what it decided: the record written (or found
        unchanged) and the decision of the last attempt, the one that counted."""
        decided: list[D] = []

        def apply(record: SessionRecord, now: float) -> SessionRecord:
            changed, decision = rule(record, now)
            decided[:] = [decision]
            return changed

        record = self.decide(session_id, apply)
        return record, decided[0] if decided else None

    def _stamp(self, record: SessionRecord, current: SessionRecord | None, now: float) -> SessionRecord:
        """What every write adds: the lifecycle's deadlines (`settle`), the time, the version, the TTL."""
        return settle(record, now, self._settings).model_copy(
            update={
                "updatedAt": now,
                "version": current.version + 1 if current is not None else 0,  # registered: 0
                "expiresAt": self._expiry(record.status, now),
            }
        )

    def _expiry(self, status: Status, now: float) -> int:
        return rules.expiry(
            status, now, self._settings.session_max_inactive_s, self._settings.session_retention_s
        )

    def _steady_heartbeat(
        self, session_id: str, beat: Beat
    ) -> tuple[SessionRecord | None, SessionRecord | None]:
        """`rules.apply_heartbeat` for the case `rules.is_steady` names, as one UpdateItem whose
        condition is that predicate. (the updated record, None), or (None, the item as the failed
        condition saw it, if it exists): then the rules judge it, from that item, without a read."""
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
            reply = self.items.db.update_item(
                TableName=self.items.table,
                Key={"sessionId": {"S": session_id}},
                UpdateExpression=f"SET {', '.join(sets)} ADD version :one",
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if is_condition_failure(error):
                found = error.response.get("Item")
                return None, item.load(deserialize(found)) if found else None
            raise
        before = item.load(deserialize(reply["Attributes"]))
        changes |= {"version": before.version + 1, "expiresAt": expires}  # what was written
        record = before.model_copy(update=changes)
        record._restarts_added = rules.restarts_added(before, beat)
        return record, None
