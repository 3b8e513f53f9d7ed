"""Redundant recording: a shadow recorder from the start, promoted in the takeover's own claim when
the owner is lost (nothing launched, nothing lost), replaced when it goes silent, stopped at the end."""

from __future__ import annotations

from typing import Any

import pytest

from hacore.errors import StaleEpoch
from hacore.lifecycle import Due, due_for
from hacore.models import Beat, Registration, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import FakeClock, register_body
from tests.unit.conftest import TABLE
from tests.unit.failover_fixtures import FencingChunks, RecordingLauncher, engine_for


def redundant(store: SessionStore, sid: str = "s1", **body: Any) -> None:
    store.register(Registration.model_validate(register_body(sid, **body)))


def test_a_redundant_recording_gets_a_shadow_that_is_promoted_when_the_owner_is_lost(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher, chunks = RecordingLauncher(), FencingChunks()
    engine = engine_for(store, settings, clock, launcher, chunks)
    redundant(store, redundant=True)
    assert due_for(store.get("s1")) is Due.SHADOW
    engine.sweep()
    (shadow,) = launcher.launches
    assert (shadow.epoch, shadow.start_chunk) == (2, "0000")
    for n in range(3):  # both record: the owner and its shadow, each beating as its epoch
        clock.advance(10)
        store.heartbeat("s1", Beat(lastChunk=f"{n:04d}.mp4", epoch=1))
        store.heartbeat("s1", Beat(lastChunk=f"{n:04d}.mp4", epoch=2))
        engine.sweep()
    record = store.get("s1")
    assert (record.epoch, record.shadow.outcome, record.shadow.heardAt) == (1, "running", clock.now)
    clock.advance(settings.heartbeat_timeout_s + 1)  # the owner is silent; the shadow beats on
    store.heartbeat("s1", Beat(lastChunk="0003.mp4", epoch=2))
    report = engine.sweep()
    assert [(t.outcome, t.epoch) for t in report.takeovers] == [("promoted", 2)]
    record = store.get("s1")
    assert (record.status, record.epoch, record.failovers[-1].detail) == (
        Status.RECORDING,
        2,
        "the shadow, promoted",
    )
    assert chunks.fences == [("s1", 2)]  # the lost owner is fenced
    with pytest.raises(StaleEpoch):
        store.heartbeat("s1", Beat(lastChunk="0004.mp4", epoch=1))
    assert [s.epoch for s in launcher.launches] == [2]  # no backup launched
    engine.sweep()  # the next sweep: a new shadow for the new owner
    assert [s.epoch for s in launcher.launches] == [2, 3]
    assert store.get("s1").shadow.epoch == 3


def test_a_silent_shadow_is_given_up_and_replaced(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    redundant(store, redundant=True)
    engine.sweep()
    for n in range(int(settings.backup_start_deadline_s // 10) + 1):  # the shadow never beats
        clock.advance(10)
        store.heartbeat("s1", Beat(lastChunk=f"{n:04d}.mp4", epoch=1))
        engine.sweep()
    record = store.get("s1")
    assert ("ref-s1-e2", True) in launcher.stopped
    assert record.failovers[-1].outcome == "abandoned"
    clock.advance(settings.backup_start_deadline_s)
    store.heartbeat("s1", Beat(lastChunk="0099.mp4", epoch=1))
    engine.sweep()
    assert store.get("s1").shadow.epoch == 3  # another one, above the given-up epoch


def test_without_redundancy_a_lost_owner_is_a_takeover_with_a_launch(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    redundant(store)  # not asked, and APP_REDUNDANT_RECORDING is off
    assert store.get("s1").shadowDueAt is None
    clock.advance(settings.heartbeat_timeout_s + 1)
    assert [t.outcome for t in engine.sweep().takeovers] == ["launched"]


def test_the_global_setting_makes_every_recording_redundant_unless_the_register_says_not(
    dynamodb: Any, settings: Settings, clock: FakeClock
) -> None:
    every = Settings.from_env(
        {**settings.model_dump(by_alias=True, exclude_none=True), "APP_REDUNDANT_RECORDING": "true"}
    )
    store = SessionStore(dynamodb, TABLE, every, clock)
    redundant(store, "a")
    redundant(store, "b", redundant=False)
    assert (store.get("a").redundant, store.get("b").redundant) == (True, False)


def test_the_end_of_the_recording_stops_the_shadow_at_once(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    redundant(store, redundant=True)
    engine.sweep()
    engine.stop_backups(store.get("s1"))
    assert launcher.stopped == [("ref-s1-e2", True)]  # forced: the owner finalizes, not the shadow


def test_a_handover_sets_the_shadow_aside_so_no_epoch_goes_back(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """A redundant recording drained: the handover's recorder owns it at an epoch above the shadow's;
    that shadow is set aside (never promoted below the owner), and a new one starts above both."""
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    redundant(store, redundant=True)
    engine.sweep()  # shadow at epoch 2
    clock.advance(10)
    store.heartbeat("s1", Beat(lastChunk="0000.mp4", epoch=1))
    store.heartbeat("s1", Beat(lastChunk="0000.mp4", epoch=2))
    assert engine.hand_over("s1", "drain").epoch == 3
    done = store.heartbeat("s1", Beat(lastChunk="0001.mp4", epoch=3))
    assert (done.epoch, done.shadow) == (3, None)
    assert [(f.epoch, f.outcome) for f in done.failovers] == [(2, "superseded"), (3, "running")]
    with pytest.raises(StaleEpoch):  # the set-aside shadow is refused: it stops itself
        store.heartbeat("s1", Beat(lastChunk="0001.mp4", epoch=2))
    engine.sweep()
    assert store.get("s1").shadow.epoch == 4
