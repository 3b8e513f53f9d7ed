"""The session store's guarantees: chunk bookkeeping, optimistic concurrency, index-bounded reads."""

from __future__ import annotations

from typing import Any

import pytest

from hacore.errors import ConcurrentUpdate, SessionExists, StaleEpoch
from hacore.models import Beat, FailoverEvent, Registration, SessionRecord, Status
from hacore.sessions.item import from_item, to_item
from hacore.sessions.store import SessionStore
from tests.helpers import FakeClock, register_body


def register(store: SessionStore, sid: str = "s1") -> SessionRecord:
    return store.register(Registration.model_validate(register_body(sid)))


def test_chunk_change_time_moves_only_when_the_chunk_advances(store: SessionStore, clock: FakeClock) -> None:
    register(store)
    clock.advance(10)
    first = store.heartbeat("s1", Beat(lastChunk="0001.mp4"))
    assert first.lastChunkChangedAt == clock.now
    changed_at = clock.now
    clock.advance(10)
    same = store.heartbeat("s1", Beat(lastChunk="0001.mp4"))
    assert (same.lastChunkChangedAt, same.lastHeartbeatAt) == (changed_at, clock.now)
    clock.advance(10)
    silent = store.heartbeat("s1", Beat())
    assert silent.lastChunkChangedAt == changed_at
    older = store.heartbeat("s1", Beat(lastChunk="0000.mp4"))
    assert (older.lastChunk, older.lastChunkIndex) == ("0001.mp4", 1)  # never goes backwards
    clock.advance(10)
    advanced = store.heartbeat("s1", Beat(lastChunk="0002.mp4"))
    assert (advanced.lastChunkIndex, advanced.lastChunkChangedAt) == (2, clock.now)


def test_register_is_conditional(store: SessionStore) -> None:
    register(store)
    with pytest.raises(SessionExists):
        register(store)


def test_items_round_trip(store: SessionStore) -> None:
    record = register(store).model_copy(
        update={"failovers": [FailoverEvent(epoch=2, at=1.5, reason="heartbeat", startChunk="0004")]}
    )
    again = from_item(to_item(record))
    assert again == record


def test_index_keys_follow_the_status(store: SessionStore) -> None:
    record = register(store)
    item = to_item(record)
    assert item["listKey"]["S"].startswith("A#")
    assert item["watchShard"]["S"].startswith("W#")
    paused = to_item(record.model_copy(update={"status": Status.PAUSED}))
    assert paused["listKey"]["S"].startswith("A#")
    assert "watchShard" not in paused  # active, but the detector has nothing to do with it
    stopping = to_item(record.model_copy(update={"status": Status.STOPPING}))
    assert stopping["listKey"]["S"].startswith("I#")
    done = to_item(record.model_copy(update={"status": Status.COMPLETED}))
    assert done["listKey"]["S"].startswith("I#")
    assert "watchShard" not in done


def test_a_concurrent_write_makes_the_loser_reread(store: SessionStore) -> None:
    register(store)
    calls = []

    def change(record: SessionRecord, now: float) -> SessionRecord:
        calls.append(record.version)
        if len(calls) == 1:  # someone else writes between our read and our put
            store.heartbeat("s1", Beat(lastChunk="0007.mp4"))
        return record.model_copy(update={"recordingPath": "/x"})

    result = store.decide("s1", change)
    assert calls == [0, 1]
    assert (result.recordingPath, result.lastChunk, result.version) == ("/x", "0007.mp4", 2)


def test_endless_contention_ends_in_a_409(store: SessionStore) -> None:
    register(store)

    def change(record: SessionRecord, now: float) -> SessionRecord:
        store.heartbeat("s1", Beat())
        return record.model_copy(update={"recordingPath": "/x"})

    with pytest.raises(ConcurrentUpdate) as gave_up:
        store.decide("s1", change)
    assert gave_up.value.status_code == 503  # retryable; 409 would tell a recorder to stop


def test_stale_epoch_is_refused_before_anything_is_written(store: SessionStore) -> None:
    register(store)
    store.decide("s1", lambda r, now: r.model_copy(update={"epoch": 2}))
    with pytest.raises(StaleEpoch) as refused:
        store.heartbeat("s1", Beat(epoch=1, lastChunk="0003.mp4"))
    assert refused.value.status_code == 409
    assert store.get("s1").lastChunk is None


def _failing_over(store: SessionStore) -> None:
    register(store)
    store.heartbeat("s1", Beat(lastChunk="0003.mp4"))
    event = FailoverEvent(epoch=2, at=0, reason="heartbeat", startChunk="0004")
    store.decide(
        "s1",
        lambda r, now: r.model_copy(update={"status": Status.FAILING_OVER, "epoch": 2, "failovers": [event]}),
    )


def test_the_backups_first_heartbeat_ends_the_takeover(store: SessionStore) -> None:
    _failing_over(store)
    record = store.heartbeat("s1", Beat(epoch=2))
    assert record.status is Status.RECORDING
    assert record.failovers[-1].outcome == "running"


def test_a_legacy_backup_is_recognised_by_its_chunk(store: SessionStore) -> None:
    _failing_over(store)
    assert store.heartbeat("s1", Beat(lastChunk="0003.mp4")).status is Status.FAILING_OVER
    assert store.heartbeat("s1", Beat()).status is Status.FAILING_OVER
    assert store.heartbeat("s1", Beat(lastChunk="0004.mp4")).status is Status.RECORDING


class CountingClient:
    """Wraps the DynamoDB client to count what each call reads."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.keys_fetched = 0
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "batch_get_item":

            def counted(**kw: Any) -> Any:
                self.keys_fetched += sum(len(t["Keys"]) for t in kw["RequestItems"].values())
                self.calls.append(name)
                return attribute(**kw)

            return counted
        if callable(attribute):
            self.calls.append(name)
        return attribute


def test_listing_reads_grow_with_what_is_listed(dynamodb: Any, settings: Any, clock: FakeClock) -> None:
    counting = CountingClient(dynamodb)
    store = SessionStore(counting, settings.sessions_table, settings, clock)
    for n in range(40):
        register(store, f"old{n}")
        store.set_status(f"old{n}", Status.COMPLETED)
    register(store, "live1")
    register(store, "live2")
    counting.keys_fetched, counting.calls = 0, []
    assert {r.sessionId for r in store.list(active=True)} == {"live1", "live2"}
    assert counting.keys_fetched == 2
    assert "scan" not in counting.calls
    counting.calls = []
    assert store.get("live1").sessionId == "live1"
    assert counting.calls == ["get_item"]


class CountedCalls:
    """The DynamoDB client, counting the calls made through it by operation."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith(("get_paginator", "_", "meta", "exceptions")):
            return attribute

        def counted(**kwargs: Any) -> Any:
            self.calls.append(name)
            return attribute(**kwargs)

        return counted


@pytest.fixture
def counted(dynamodb: Any, settings: Any, clock: FakeClock) -> tuple[SessionStore, CountedCalls]:
    client = CountedCalls(dynamodb)
    return SessionStore(client, settings.sessions_table, settings, clock), client


def test_a_steady_heartbeat_is_one_conditional_update(
    counted: tuple[SessionStore, CountedCalls], clock: FakeClock
) -> None:
    store, client = counted
    register(store)
    store.heartbeat("s1", Beat(epoch=1, lastChunk="0000.mp4"))  # STARTING -> RECORDING
    for n in range(1, 4):
        clock.advance(10)
        client.calls.clear()
        beat = store.heartbeat("s1", Beat(epoch=1, lastChunk=f"{n:04d}.mp4", captureRestarts=n))
        assert client.calls == ["update_item"]
        assert beat.model_dump() == store.get("s1").model_dump()  # what it returns is what is stored
        assert (beat.lastChunkIndex, beat.lastChunkChangedAt, beat.lastHeartbeatAt) == (
            n,
            clock.now,
            clock.now,
        )
        assert (beat.captureRestarts, beat.restarts_added, beat.status) == (n, 1, Status.RECORDING)
    assert beat.version == 4  # every write moves the version: a claim racing it re-reads
    assert beat.expiresAt > clock.now  # the TTL moves with the heartbeats


def test_a_heartbeat_the_update_cannot_take_costs_no_extra_read(
    counted: tuple[SessionStore, CountedCalls], clock: FakeClock
) -> None:
    """The failed condition returns the item: the rules judge it from there, one put, no get."""
    store, client = counted
    register(store)
    store.heartbeat("s1", Beat(lastChunk="0001.mp4"))
    changed_at = clock.now
    clock.advance(10)
    client.calls.clear()
    same = store.heartbeat("s1", Beat(lastChunk="0001.mp4"))  # not newer: the rules decide
    assert client.calls == ["update_item", "put_item"]
    assert (same.lastChunkChangedAt, same.lastHeartbeatAt) == (changed_at, clock.now)
    client.calls.clear()
    store.decide("s1", lambda r, now: r.model_copy(update={"epoch": 2}))
    client.calls.clear()
    with pytest.raises(StaleEpoch):
        store.heartbeat("s1", Beat(epoch=1, lastChunk="0009.mp4"))
    assert client.calls == ["update_item"]  # refused from the item the condition saw
    assert store.get("s1").lastChunkIndex == 1


def test_a_lower_restart_count_never_lowers_the_stored_one(store: SessionStore, clock: FakeClock) -> None:
    register(store)
    store.heartbeat("s1", Beat(lastChunk="0001.mp4", captureRestarts=4))
    lower = store.heartbeat("s1", Beat(lastChunk="0002.mp4", captureRestarts=1))
    assert (lower.captureRestarts, lower.lastChunkIndex, lower.restarts_added) == (4, 2, 0)
