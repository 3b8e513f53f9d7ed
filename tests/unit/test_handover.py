"""Make-before-break handovers: nothing fenced until the new recorder's first chunk is durable; a
late one abandoned with the owner untouched; a takeover meanwhile supersedes it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from hacore.chunks import ChunkIndex, chunk_key, fence_key
from hacore.errors import StaleEpoch
from hacore.failover.engine import FailoverEngine
from hacore.failover.handover import NotHandable
from hacore.lifecycle import Due, due_for
from hacore.models import Beat, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import FakeClock, RecordedMetrics
from tests.unit.conftest import TABLE
from tests.unit.failover_fixtures import FencingChunks, RecordingLauncher, engine_for, recording_session


def test_the_new_recorder_owns_the_session_only_with_its_first_stored_chunk(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher, chunks = RecordingLauncher(), FencingChunks()
    engine = engine_for(store, settings, clock, launcher, chunks)
    recording_session(store, clock)  # chunks 0000..0002 of epoch 1
    takeover = engine.hand_over("s1")
    assert (takeover.epoch, takeover.startChunk, takeover.outcome) == (2, "0003", "launched")
    (spec,) = launcher.launches
    assert (spec.epoch, spec.start_chunk) == (2, "0003")
    record = store.get("s1")
    assert (record.status, record.epoch, record.handover.outcome) == (Status.RECORDING, 1, "launched")
    assert chunks.fences == []  # make before break: nothing fenced yet

    clock.advance(5)
    store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=1))  # the owner records on
    store.heartbeat("s1", Beat(epoch=2))  # the new one is up, nothing stored yet: heard, nothing changes
    assert store.get("s1").epoch == 1
    clock.advance(5)
    store.heartbeat("s1", Beat(lastChunk="0004.mp4", epoch=1))
    done = store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2))  # its first chunk is in S3
    assert done.handed_over
    assert (done.epoch, done.lastChunk, done.handover, done.launcherRef) == (2, "0003.mp4", None, "ref-s1-e2")
    event = done.failovers[-1]
    assert (event.reason, event.outcome, event.runningAt) == ("handover", "running", clock.now)
    with pytest.raises(StaleEpoch):  # the old recorder is fenced now: its next beat is a 409
        store.heartbeat("s1", Beat(lastChunk="0005.mp4", epoch=1))


def test_the_api_path_fences_the_old_epoch_once_the_handover_completes(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    chunks = FencingChunks()
    engine = engine_for(store, settings, clock, chunks=chunks)
    recording_session(store, clock)
    engine.hand_over("s1")
    engine.handovers.completed(store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2)))
    assert chunks.fences == [("s1", 2)]


def store_chunk(s3: Any, index: int, epoch: int, start: float, seconds: float = 10.0) -> None:
    """A chunk as a recorder stores it: its wall-clock start and duration in its metadata."""
    s3.put_object(
        Bucket="recordings",
        Key=chunk_key("s1", index, epoch),
        Body=b"mp4",
        Metadata={"wallclock-start": f"{start:.3f}", "duration": f"{seconds:.3f}"},
    )


def test_the_old_recorder_is_fenced_only_once_its_media_reaches_the_new_ones_first_chunk(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """The race CI lost once: the new recorder's first chunk was durable before the old one had
    stored its chunk of that moment; fenced, the old one uploaded nothing more: a gap."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="recordings")
        engine = engine_for(store, settings, clock, chunks=ChunkIndex(s3, "recordings"))
        recording_session(store, clock)
        store_chunk(s3, 2, 1, start=100.0)  # the owner's media ends at 110
        engine.hand_over("s1")
        store_chunk(s3, 3, 2, start=112.5)  # the new recorder's first chunk starts at 112.5

        ready = engine.handovers.ready
        waiting = store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2), ready)
        assert not waiting.handed_over
        assert (waiting.epoch, waiting.handover.heardAt) == (1, clock.now)
        with pytest.raises(s3.exceptions.ClientError):  # not fenced: the owner's chunk is on its way
            s3.head_object(Bucket="recordings", Key=fence_key("s1", 2))

        clock.advance(1)
        store_chunk(s3, 3, 1, start=110.0)  # the owner's chunk of 110..120 lands
        done = store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2), ready)
        assert (done.handed_over, done.epoch) == (True, 2)
        engine.handovers.completed(done)
        s3.head_object(Bucket="recordings", Key=fence_key("s1", 2))


def test_an_owner_that_never_stores_that_moment_is_handed_over_after_a_chunk_and_a_beat_with_its_gap_counted(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    metrics = RecordedMetrics()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="recordings")
        engine = FailoverEngine(
            store, RecordingLauncher(), ChunkIndex(s3, "recordings"), settings, clock, metrics
        )
        recording_session(store, clock)
        store_chunk(s3, 2, 1, start=100.0)
        engine.hand_over("s1")
        store_chunk(s3, 3, 2, start=115.0)
        ready = engine.handovers.ready
        assert not store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2), ready).handed_over
        clock.advance(engine.handovers.cover_wait_s - 1)
        assert not store.heartbeat("s1", Beat(lastChunk="0004.mp4", epoch=2), ready).handed_over
        assert "HandoversWithGap" not in metrics.values
        clock.advance(1)
        done = store.heartbeat("s1", Beat(lastChunk="0004.mp4", epoch=2), ready)
        assert (done.handed_over, done.epoch, done.lastChunk) == (True, 2, "0004.mp4")
        assert metrics.values["HandoversWithGap"] == [1]
        assert engine.handovers.cover_wait_s == settings.chunk_time_size_s + settings.heartbeat_interval_s


def test_what_s3_cannot_tell_never_holds_a_handover_up(store: SessionStore, settings: Settings) -> None:
    """No wall-clock start (the original's recorders), no chunk of the owner's, S3 down: ready."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="recordings")
        chunks = ChunkIndex(s3, "recordings")
        store_chunk(s3, 3, 2, start=115.0)
        assert chunks.reaches("s1", 1, 2, 3)  # the owner stored nothing: nothing to wait for
        store_chunk(s3, 2, 1, start=100.0)
        assert not chunks.reaches("s1", 1, 2, 3)
        store_chunk(s3, 3, 1, start=110.0, seconds=4.97)  # 30 ms short is a gap in the file too
        assert not chunks.reaches("s1", 1, 2, 3)
        store_chunk(s3, 4, 1, start=114.97)
        assert chunks.reaches("s1", 1, 2, 3)
        s3.put_object(Bucket="recordings", Key="s1/chunks/0004.mp4", Body=b"mp4")  # the original's key
        assert chunks.reaches("s1", 0, 2, 3)  # epoch 0's chunk has no start: cannot tell
        s3.put_object(Bucket="recordings", Key=chunk_key("s1", 5, 2), Body=b"mp4")
        assert chunks.reaches("s1", 1, 2, 5)  # the new chunk has no start: cannot tell
    assert ChunkIndex(
        boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9"), "b"
    ).reaches("s1", 1, 2, 3)  # S3 unreachable


def test_a_handover_is_refused_unless_recording_and_not_already_under_way(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock)
    recording_session(store, clock, chunks=0)  # STARTING: no chunk yet
    with pytest.raises(NotHandable, match="only a RECORDING one"):
        engine.hand_over("s1")
    store.heartbeat("s1", Beat(lastChunk="0000.mp4"))
    engine.hand_over("s1")
    with pytest.raises(NotHandable, match="being handed over already"):
        engine.hand_over("s1")


def test_a_handover_without_a_first_chunk_in_time_is_abandoned_and_the_owner_records_on(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    engine.hand_over("s1")
    assert due_for(store.get("s1")) is Due.HANDOVER
    for n in range(3, 3 + int(settings.backup_start_deadline_s // 10)):  # the owner beats on
        clock.advance(10)
        store.heartbeat("s1", Beat(lastChunk=f"{n:04d}.mp4", epoch=1))
        assert engine.sweep().stale == 0
    clock.advance(10)
    store.heartbeat("s1", Beat(lastChunk="0099.mp4", epoch=1))
    report = engine.sweep()
    record = store.get("s1")
    assert (report.stale, record.epoch, record.status, record.handover) == (0, 1, Status.RECORDING, None)
    assert record.failovers[-1].outcome == "abandoned"
    assert launcher.stopped == [("ref-s1-e2", True)]
    with pytest.raises(StaleEpoch):  # its recorder, if it still runs, is refused
        store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2))
    assert engine.hand_over("s1").epoch == 3  # never the abandoned epoch again


def test_a_launch_that_fails_abandons_the_handover_at_the_next_sweep(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock, RecordingLauncher(fail=1))
    recording_session(store, clock)
    assert engine.hand_over("s1").outcome == "launch-failed"
    clock.advance(1)
    store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=1))
    engine.sweep()
    record = store.get("s1")
    assert (record.handover, record.failovers[-1].outcome) == (None, "abandoned")


def test_the_owner_dying_during_a_handover_is_a_takeover_above_both_epochs(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    engine.hand_over("s1")
    clock.advance(settings.heartbeat_timeout_s + 1)
    report = engine.sweep()
    assert [t.epoch for t in report.takeovers] == [3]
    record = store.get("s1")
    assert [(f.epoch, f.outcome) for f in record.failovers] == [(2, "superseded"), (3, "launched")]
    assert record.handover is None
    with pytest.raises(StaleEpoch):
        store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2))


def test_a_recorder_older_than_the_max_age_is_rotated_make_before_break(
    dynamodb: Any, settings: Settings, clock: FakeClock
) -> None:
    aged = Settings.from_env(
        {**settings.model_dump(by_alias=True, exclude_none=True), "APP_MAX_RECORDER_AGE": "120"}
    )
    store = SessionStore(dynamodb, TABLE, aged, clock)
    launcher = RecordingLauncher()
    engine = engine_for(store, aged, clock, launcher)
    recording_session(store, clock)  # registered at t0, chunks at t0+10..30
    record = store.get("s1")
    assert (record.rotateAt, due_for(record)) == (record.createdAt + 120, Due.ROTATE)
    for n in range(3, 11):  # healthy, younger than 120 s: nothing
        clock.advance(10)
        store.heartbeat("s1", Beat(lastChunk=f"{n:04d}.mp4", epoch=1))
        engine.sweep()
    assert launcher.launches == []
    clock.advance(10)  # t0+120
    store.heartbeat("s1", Beat(lastChunk="0011.mp4", epoch=1))
    engine.sweep()
    record = store.get("s1")
    assert (record.handover.reason, record.handover.epoch, record.rotateAt) == ("rotation", 2, None)
    done = store.heartbeat("s1", Beat(lastChunk="0012.mp4", epoch=2))
    assert done.rotateAt == clock.now + 120  # the new recorder's age counts from its first beat as owner


def test_without_a_max_age_nothing_is_rotated(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    recording_session(store, clock)
    assert store.get("s1").rotateAt is None


def test_the_reasons_the_customer_sees_as_handovers_are_the_handovers() -> None:
    from hacore.failover.handover import DRAIN, HANDOVER, ROTATION
    from hacore.models import HANDOVER_REASONS

    assert {HANDOVER, DRAIN, ROTATION} == HANDOVER_REASONS
