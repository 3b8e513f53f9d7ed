"""Standbys (STANDBY_TABLE, key `standbyId`): one versioned item each (`hacore.versioned`), as
sessions are. The table stays as small as the pool (a retired or accepted standby's item expires
by TTL), so a scan is the cheapest listing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from hacore.standby.rules import RETENTION_S, StandbyGone, StandbyRecord
from hacore.versioned import Codec, DynamoItems, Items, decide, update

Rule = Callable[[StandbyRecord, float], StandbyRecord]


def dump(record: StandbyRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude_none=True)
    if "assignment" in data:
        data["assignment"] = json.dumps(data["assignment"], separators=(",", ":"))
    return data


def load(data: dict[str, Any]) -> StandbyRecord:
    if isinstance(data.get("assignment"), str):
        data = {**data, "assignment": json.loads(data["assignment"])}
    return StandbyRecord.model_validate(data)


def gone(standby_id: str) -> StandbyGone:
    return StandbyGone(f"Standby {standby_id} is not known (or expired): exit")


CODEC: Codec[StandbyRecord] = Codec(key="standbyId", dump=dump, load=load, version=lambda r: r.version)


class StandbyStore:
    def __init__(
        self, client: Any, table: str, clock: Callable[[], float] = time.time, items: Items | None = None
    ) -> None:
        self._clock = clock
        self.items: Items[StandbyRecord] = items or DynamoItems(client, table, CODEC, clock)

    def find(self, standby_id: str) -> StandbyRecord | None:
        return self.items.find(standby_id)

    def all(self) -> list[StandbyRecord]:
        return self.items.scan()

    def decide(self, standby_id: str, rule: Rule) -> StandbyRecord:
        """`rule` gets the current record and the time; it returns it unchanged (nothing is
        written) or a changed copy, or raises to refuse. A standby not known: StandbyGone."""
        return update(self.items, standby_id, rule, self._stamp, gone, self._clock)

    def register(
        self, standby_id: str, rule: Callable[[StandbyRecord | None, float], StandbyRecord]
    ) -> StandbyRecord:
        """As `decide`, but a standby not known yet is `rule(None, now)`'s to create."""
        return decide(self.items, standby_id, rule, self._stamp, self._clock)

    @staticmethod
    def _stamp(record: StandbyRecord, current: StandbyRecord | None, now: float) -> StandbyRecord:
        version = current.version if current is not None else 0
        return record.model_copy(
            update={"version": version + 1, "expiresAt": int(record.lastSeenAt + RETENTION_S)}
        )
