"""A session as its DynamoDB item: JSON-valued fields as text, and the keys of the four sparse,
sharded, keys-only indexes, derived from the record.

`ByList` (active / inactive listings and counts); `WatchByHeartbeat` and `WatchByChunk` (the
detector's candidates: only STARTING / RECORDING sessions carry `watchShard`); `ClaimsByExpiry`
(every session with a lifecycle deadline, by when it passes: a takeover's claim, a held `failed`,
a terminal decided and not yet queued, an ended recording still owed its terminal;
`hacore.lifecycle`).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from hacore.lifecycle import Due, due_for
from hacore.models import SessionRecord
from hacore.sessions.rules import in_claims_index
from hacore.versioned import Codec, deserialize, serialize

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


def shard_of(session_id: str) -> int:
    return zlib.crc32(session_id.encode()) % SHARDS


def index_key(kind: str, shard: int) -> str:
    """An index's partition: its kind (A, I: active, inactive listings; W: watched; C: a
    deadline) and the shard."""
    return f"{kind}#{shard}"


def list_key(active: bool, shard: int) -> str:
    return index_key("A" if active else "I", shard)


def watch_key(shard: int) -> str:
    return index_key("W", shard)


def claim_key(shard: int) -> str:
    return index_key("C", shard)


def dump(record: SessionRecord) -> dict[str, Any]:
    """The item's attributes: JSON-valued fields as text, index keys derived from the record."""
    data = record.model_dump(mode="python", exclude_none=True)
    data["status"] = record.status.value
    for field in JSON_TEXT_FIELDS:
        if field in data:
            data[field] = json.dumps(data[field], separators=(",", ":"))
    shard = shard_of(record.sessionId)
    data["listKey"] = list_key(record.active, shard)
    if record.status.watched:
        data["watchShard"] = watch_key(shard)
    due = in_claims_index(record)
    if due is not None:
        data["claimShard"] = claim_key(shard)
        data["claimExpiresAt"] = due
    return data


def load(data: dict[str, Any]) -> SessionRecord:
    data = dict(data)
    for field in JSON_TEXT_FIELDS:
        if isinstance(data.get(field), str):
            data[field] = json.loads(data[field])
    record = SessionRecord.model_validate(data)
    if due_for(record) not in (Due.CLAIM, Due.HOLD, Due.HANDOVER):  # the index's copy of another deadline
        record = record.model_copy(update={"claimExpiresAt": None})
    return record


CODEC: Codec[SessionRecord] = Codec(key="sessionId", dump=dump, load=load, version=lambda r: r.version)


def to_item(record: SessionRecord) -> dict[str, Any]:
    """The typed DynamoDB item (a batch write's, a test's)."""
    return serialize(dump(record))


def from_item(typed: dict[str, Any]) -> SessionRecord:
    return load(deserialize(typed))
