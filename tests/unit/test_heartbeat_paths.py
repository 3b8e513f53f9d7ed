"""The heartbeat's rules are written once (`hacore.sessions.rules.apply_heartbeat`) and its steady
case once more as a DynamoDB condition (`SessionStore._steady_heartbeat`). Random (record, beat)
pairs go through both paths on moto: the one-write path is taken exactly when `rules.is_steady`
says so, and then it writes what the rules would have written, field for field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from hacore.errors import SessionNotFound, StaleEpoch
from hacore.models import Beat, FailoverEvent, SessionRecord, Status
from hacore.sessions import rules
from hacore.sessions.item import to_item
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from local.provision import create_tables, physical_name
from local.template import Template
from tests.helpers import FakeClock

TABLE = physical_name("SessionsTable")
NOW = 1_000_000.0


@st.composite
def records(draw: st.DrawFn) -> SessionRecord:
    chunk = draw(st.none() | st.integers(0, 6))
    status = draw(st.sampled_from(list(Status)))
    epoch = draw(st.integers(1, 3))
    failovers = (
        [
            FailoverEvent(
                epoch=epoch,
                at=NOW - 30,
                reason="heartbeat-timeout",
                startChunk=f"{draw(st.integers(0, 7)):04d}",
            )
        ]
        if epoch > 1
        else []
    )
    return SessionRecord(
        sessionId="s1",
        clientId="c1",
        status=status,
        createdAt=NOW - 100,
        updatedAt=NOW - 10,
        lastHeartbeatAt=NOW - 10,
        lastChunk=None if chunk is None else f"{chunk:04d}.mp4",
        lastChunkIndex=chunk,
        lastChunkChangedAt=NOW - 20,
        epoch=epoch,
        failovers=failovers,
        claimExpiresAt=NOW + 50 if status is Status.FAILING_OVER else None,
        captureRestarts=draw(st.integers(0, 3)),
        captureHealth=draw(st.none() | st.just({"ffmpeg": 1})),
        expiresAt=int(NOW + draw(st.sampled_from([-5, 600]))),
        version=draw(st.integers(1, 5)),
    )


beats = st.builds(
    Beat,
    lastChunk=st.none() | st.integers(0, 8).map(lambda n: f"{n:04d}.mp4"),
    epoch=st.none() | st.integers(1, 3),
    captureRestarts=st.none() | st.integers(0, 4),
    captureHealth=st.none() | st.sampled_from([{"ffmpeg": 1}, {"ffmpeg": 2, "browser": 1}]),
)


@pytest.fixture(scope="module")
def store() -> Iterator[SessionStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, Template.load())
        yield SessionStore(client, TABLE, Settings.from_env({"SESSIONS_TABLE": TABLE}), FakeClock(NOW))


def through(store: SessionStore, record: SessionRecord, beat: Beat, steady_only: bool) -> tuple[Any, Any]:
    """(what the path returned, the item it left, read back); a refusal by its error's name."""
    store.items.db.put_item(TableName=TABLE, Item=to_item(record))
    try:
        if steady_only:
            result = store._steady_heartbeat("s1", beat)[0]
        else:
            result = store.decide("s1", lambda current, now: rules.apply_heartbeat(current, beat, now))
    except (StaleEpoch, SessionNotFound) as error:
        return type(error).__name__, None
    return result, store.find("s1")


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(record=records(), beat=beats)
def test_both_heartbeat_paths_write_the_same_record(
    store: SessionStore, record: SessionRecord, beat: Beat
) -> None:
    steady, steady_stored = through(store, record, beat, steady_only=True)
    assert (steady is not None) == (not record.expired(NOW) and rules.is_steady(record, beat))
    ruled, ruled_stored = through(store, record, beat, steady_only=False)
    if steady is None:
        return
    assert isinstance(ruled, SessionRecord)
    assert steady.model_dump() == ruled.model_dump()
    assert steady.restarts_added == ruled.restarts_added
    assert steady_stored.model_dump() == ruled_stored.model_dump()  # the table holds the same


def test_a_steady_beat_is_one_write_and_anything_else_is_not(store: SessionStore) -> None:
    """Not vacuous: both outcomes of `is_steady` occur among the examples above."""
    base = SessionRecord(
        sessionId="s1",
        clientId="c",
        status=Status.RECORDING,
        createdAt=NOW,
        updatedAt=NOW,
        lastHeartbeatAt=NOW,
        lastChunkChangedAt=NOW,
        lastChunkIndex=2,
        lastChunk="0002.mp4",
        expiresAt=int(NOW + 600),
    )
    assert through(store, base, Beat(lastChunk="0003.mp4"), steady_only=True)[0] is not None
    assert through(store, base, Beat(lastChunk="0002.mp4"), steady_only=True)[0] is None
    assert through(store, base, Beat(epoch=2), steady_only=False)[0] == "StaleEpoch"
