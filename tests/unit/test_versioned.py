"""The two implementations of the versioned-item store answer alike: DynamoDB (on moto) and memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hacore.errors import ConcurrentUpdate
from hacore.versioned import Codec, DynamoItems, Items, MemoryItems, decide, update
from tests.helpers import FakeClock

CODEC: Codec[dict[str, Any]] = Codec(key="id", dump=dict, load=dict, version=lambda r: r["version"])


@pytest.fixture(params=["dynamodb", "memory"])
def items(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Items[dict[str, Any]]]:
    if request.param == "memory":
        yield MemoryItems(CODEC, clock)
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoItems(client, "t", CODEC, clock)


def test_a_put_lands_only_on_the_version_it_read(items: Items[dict[str, Any]], clock: FakeClock) -> None:
    assert items.put({"id": "a", "version": 1, "n": 1}, None)
    assert not items.put({"id": "a", "version": 1, "n": 2}, None)  # it exists
    assert not items.put({"id": "a", "version": 2, "n": 2}, 0)  # another version
    assert items.put({"id": "a", "version": 2, "n": 2}, 1)
    assert items.find("a") == {"id": "a", "version": 2, "n": 2}


def test_an_expired_item_is_absent_and_may_be_written_over(
    items: Items[dict[str, Any]], clock: FakeClock
) -> None:
    assert items.put({"id": "a", "version": 1, "expiresAt": int(clock.now) + 10}, None)
    clock.advance(10)
    assert items.find("a") is None
    assert items.find_many(["a"]) == []
    assert items.put({"id": "a", "version": 1}, None)


def test_a_delete_by_expiry_spares_what_has_not_expired(
    items: Items[dict[str, Any]], clock: FakeClock
) -> None:
    items.put({"id": "live", "version": 1, "expiresAt": int(clock.now) + 10}, None)
    items.put({"id": "forever", "version": 1}, None)
    items.put({"id": "old", "version": 1, "expiresAt": int(clock.now) - 1}, None)
    assert not items.delete("live", expired_by=clock.now)
    assert not items.delete("forever", expired_by=clock.now)  # no expiry: never expired
    assert items.delete("old", expired_by=clock.now)
    assert items.delete("forever")
    assert not items.delete("forever")


def test_decide_and_update(items: Items[dict[str, Any]], clock: FakeClock) -> None:
    def stamp(record: dict[str, Any], current: dict[str, Any] | None, now: float) -> dict[str, Any]:
        return record | {"version": (current or {"version": 0})["version"] + 1}

    made = decide(items, "a", lambda current, now: current or {"id": "a", "n": 0}, stamp, clock)
    assert made == {"id": "a", "n": 0, "version": 1}
    bumped = update(
        items, "a", lambda current, now: current | {"n": current["n"] + 1}, stamp, KeyError, clock
    )
    assert bumped == {"id": "a", "n": 1, "version": 2}
    with pytest.raises(KeyError):
        update(items, "b", lambda current, now: current, stamp, KeyError, clock)

    def racing(current: dict[str, Any] | None, now: float) -> dict[str, Any]:
        assert current is not None
        items.put(current | {"version": current["version"] + 1}, current["version"])  # always first
        return current | {"n": 9}

    with pytest.raises(ConcurrentUpdate):
        decide(items, "a", racing, stamp, clock)
