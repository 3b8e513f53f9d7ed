"""Relay statistics in DynamoDB (atomic counters), not in memory: every Lambda instance adds to
the same item, and a restart loses nothing. Delivery latency is a histogram of counters."""

from __future__ import annotations

import time
from typing import Any

# Upper bounds (ms) of the latency buckets; the last one catches everything slower.
BUCKETS_MS = (
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10_000,
    30_000,
    60_000,
    300_000,
    3_600_000,
    86_400_000,
)
ITEM = {"name": {"S": "relay"}}


def bucket_of(latency_ms: float) -> int:
    return next((b for b in BUCKETS_MS if latency_ms <= b), BUCKETS_MS[-1])


class RelayStats:
    def __init__(self, dynamodb: Any, table: str | None, clock: Any = time.time) -> None:
        self._db = dynamodb
        self._table = table
        self._clock = clock

    def _add(self, counters: dict[str, int], stamp: str | None = None) -> None:
        if not self._table:
            return
        names = {f"#c{n}": name for n, name in enumerate(counters)}
        values: dict[str, Any] = {f":c{n}": {"N": str(v)} for n, v in enumerate(counters.values())}
        expression = "ADD " + ", ".join(f"#c{n} :c{n}" for n in range(len(counters)))
        if stamp:
            names["#t"] = stamp
            values[":t"] = {"N": f"{self._clock():.3f}"}
            expression += " SET #t = :t"
        self._db.update_item(
            TableName=self._table,
            Key=ITEM,
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def received(self) -> None:
        self._add({"totalRequests": 1}, "lastRequestTime")

    def attempt_failed(self) -> None:
        self._add({"deliveryAttempts": 1, "failedAttempts": 1}, "lastFailureTime")

    def delivered(self, latency_ms: float) -> None:
        self._add(
            {"deliveryAttempts": 1, "successfulRequests": 1, f"latency_le_{bucket_of(latency_ms)}": 1},
            "lastSuccessTime",
        )

    def dead_lettered(self) -> None:
        self._add({"failedRequests": 1}, "lastFailureTime")

    def redriven(self, count: int) -> None:
        if count:
            self._add({"redriven": count})

    def read(self) -> dict[str, Any]:
        if not self._table:
            return {}
        item = self._db.get_item(TableName=self._table, Key=ITEM, ConsistentRead=True).get("Item", {})
        numbers = {k: float(v["N"]) for k, v in item.items() if "N" in v}
        histogram = [(b, int(numbers.get(f"latency_le_{b}", 0))) for b in BUCKETS_MS]
        return {
            **numbers,
            "latencyP50Ms": percentile(histogram, 0.50),
            "latencyP99Ms": percentile(histogram, 0.99),
        }


def percentile(histogram: list[tuple[int, int]], q: float) -> float | None:
    """The bucket bound at or under which q of the deliveries fell."""
    total = sum(count for _, count in histogram)
    if not total:
        return None
    seen = 0
    for bound, count in histogram:
        seen += count
        if seen >= q * total:
            return float(bound)
    return float(histogram[-1][0])
