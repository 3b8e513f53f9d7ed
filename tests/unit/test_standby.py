"""Warm standbys: the rules of a standby's record, the pool's hand-over (exactly once, bounded,
falling back to a cold launch) and refill, event-driven takeovers, and the standby's routes."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.failover.engine import FailoverEngine
from hacore.failover.rules import RecorderStopped
from hacore.failover.task_events import recorder_stopped
from hacore.launchers import BackupSpec
from hacore.launchers.process import stopped_task_event
from hacore.models import Beat
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.standby import rules
from hacore.standby.pool import StandbyPool
from hacore.standby.rules import Assignment, StandbyConflict, StandbyGone, StandbyRecord, StandbyStatus
from hacore.standby.store import StandbyStore
from local.provision import physical_name
from tests.helpers import ApiClient, FakeClock
from tests.unit.failover_fixtures import NoChunks, RecordingLauncher, engine_for, recording_session

STANDBY_TABLE = physical_name("StandbyTable")
SPEC = BackupSpec("s1", 2, "0003", {"VIDEO_ID": "s1", "EPOCH": "2"})


@pytest.fixture
def pool_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"standby_table": STANDBY_TABLE, "standby_pool_size": 2, "standby_accept_timeout_s": 0.5}
    )


@pytest.fixture
def standbys(dynamodb: Any, clock: FakeClock) -> StandbyStore:
    return StandbyStore(dynamodb, STANDBY_TABLE, clock)


def idle(standbys: StandbyStore, standby_id: str, host: str = "h") -> StandbyRecord:
    return standbys.register(
        standby_id, lambda current, now: rules.register(current, standby_id, host, None, now)
    )


def accept_when_polled(standbys: StandbyStore, standby_id: str) -> Any:
    """The standby's side, run where the pool waits: it polls, sees its assignment, accepts it."""

    def poll_and_accept(_: float) -> None:
        record = standbys.find(standby_id)
        if record is not None and record.status is StandbyStatus.ASSIGNED and record.assignment:
            given = record.assignment
            standbys.decide(standby_id, lambda r, now: rules.accept(r, given.sessionId, given.epoch, now))

    return poll_and_accept


# --- the rules ----------------------------------------------------------------------


def test_an_assignment_lands_only_on_an_idle_standby_heard_from_lately() -> None:
    record = rules.register(None, "sb1", "h", None, now=100.0)
    given = Assignment(sessionId="s1", epoch=2, startChunk="0003", environment={}, assignedAt=100.0)
    with pytest.raises(StandbyConflict):
        rules.assign(record, given, now=200.0, silent_after=15)  # silent for 100 s: taken for dead
    assigned = rules.assign(record, given, now=105.0, silent_after=15)
    with pytest.raises(StandbyConflict):
        rules.assign(assigned, given, now=105.0, silent_after=15)  # never two sessions at once


def test_an_acceptance_is_for_that_session_and_epoch_only_and_repeats_harmlessly() -> None:
    given = Assignment(sessionId="s1", epoch=2, startChunk="0003", environment={}, assignedAt=1.0)
    assigned = rules.assign(rules.register(None, "sb1", None, None, 1.0), given, 1.0, 15)
    with pytest.raises(StandbyConflict):
        rules.accept(assigned, "s1", 3, 2.0)
    accepted = rules.accept(assigned, "s1", 2, 2.0)
    assert accepted.status is StandbyStatus.ACCEPTED
    assert rules.accept(accepted, "s1", 2, 3.0) is accepted  # a lost reply, retried
    assert rules.retire(accepted, 2) is accepted  # the acceptance landed first: it stands
    with pytest.raises(StandbyConflict):
        rules.accept(rules.retire(assigned, 2), "s1", 2, 2.0)  # retired first: it must not record


def test_a_poll_writes_only_now_and_then_and_a_retired_standby_is_told_to_exit() -> None:
    record = rules.register(None, "sb1", None, None, 100.0)
    assert rules.seen(record, 101.0) is record  # a read, not a write
    assert rules.seen(record, 100.0 + rules.SEEN_EVERY_S).lastSeenAt == 100.0 + rules.SEEN_EVERY_S
    with pytest.raises(StandbyGone):
        rules.seen(rules.retire(record), 101.0)


# --- the pool ---------------------------------------------------------------------------


def test_a_takeover_goes_to_the_standby_that_accepts(
    standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    idle(standbys, "sb1")
    pool = StandbyPool(
        standbys, RecordingLauncher(), pool_settings, clock, sleep=accept_when_polled(standbys, "sb1")
    )
    handed = pool.hand_over(SPEC)
    assert handed is not None
    assert handed.standby_id == "sb1"
    record = standbys.find("sb1")
    assert record is not None
    assert record.status is StandbyStatus.ACCEPTED
    assert record.assignment is not None
    assert record.assignment.environment == SPEC.environment


def test_one_standby_is_never_given_two_sessions(
    standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    idle(standbys, "sb1")
    pool = StandbyPool(
        standbys, RecordingLauncher(), pool_settings, clock, sleep=accept_when_polled(standbys, "sb1")
    )
    assert pool.hand_over(SPEC) is not None
    assert pool.hand_over(BackupSpec("s2", 2, "0001", {})) is None  # the pool is empty: a cold launch


def test_a_standby_that_does_not_answer_is_retired_and_cannot_accept_later(
    standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    idle(standbys, "dead")
    pool = StandbyPool(standbys, RecordingLauncher(), pool_settings, clock, sleep=lambda _: None)
    assert pool.hand_over(SPEC) is None
    record = standbys.find("dead")
    assert record is not None
    assert record.status is StandbyStatus.RETIRED
    with pytest.raises(StandbyConflict):
        standbys.decide("dead", lambda r, now: rules.accept(r, "s1", 2, now))


def test_the_pool_is_refilled_counting_standbys_still_starting_and_replacing_silent_ones(
    standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    pool = StandbyPool(standbys, launcher, pool_settings, clock)
    first = pool.refill()
    assert len(first) == 2
    assert [s.action for s in launcher.launches] == ["standby", "standby"]
    assert launcher.launches[0].environment["RECORDER_ACTION"] == "standby"
    assert pool.refill() == []  # both still starting: not launched again
    idle(standbys, first[0])
    idle(standbys, first[1])
    assert pool.refill() == []
    clock.advance(pool_settings.standby_silent_after_s + 1)
    idle(standbys, first[0])  # this one polls; the other went silent
    launcher.stopped.append((f"ref-{first[1]}-e0", True))  # its task is gone too
    again = pool.refill()
    assert len(again) == 1
    silent = standbys.find(first[1])
    assert silent is not None
    assert silent.status is StandbyStatus.RETIRED


def test_a_pool_of_zero_launches_nothing(
    standbys: StandbyStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    assert StandbyPool(standbys, launcher, settings, clock).refill() == []
    assert launcher.launches == []


# --- the engine: hand-over, cold fallback, and the platform's stopped-task event -----------


def engine_with_pool(
    store: SessionStore, standbys: StandbyStore, settings: Settings, clock: FakeClock, **pool: Any
) -> Any:
    launcher = RecordingLauncher()
    return FailoverEngine(
        store,
        launcher,
        NoChunks(),
        settings,
        clock,
        pool=StandbyPool(standbys, launcher, settings, clock, **pool),
    ), launcher


def test_a_takeover_with_an_idle_standby_launches_nothing_cold(
    store: SessionStore, standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    recording_session(store, clock)
    idle(standbys, "sb1")
    engine, launcher = engine_with_pool(
        store, standbys, pool_settings, clock, sleep=accept_when_polled(standbys, "sb1")
    )
    takeover = engine.take_over("s1")
    assert takeover.standby
    assert takeover.outcome == "launched"
    assert [s for s in launcher.launches if s.action == "run"] == []
    event = store.get("s1").failovers[-1]
    assert (event.standbyId, event.outcome) == ("sb1", "launched")


def test_with_no_standby_answering_the_takeover_launches_cold(
    store: SessionStore, standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    recording_session(store, clock)
    idle(standbys, "mute")
    engine, launcher = engine_with_pool(store, standbys, pool_settings, clock, sleep=lambda _: None)
    takeover = engine.take_over("s1")
    assert not takeover.standby
    assert [(s.session_id, s.epoch, s.action) for s in launcher.launches] == [("s1", 2, "run")]


@pytest.mark.parametrize(
    ("exit_code", "on_purpose", "taken_over"),
    [
        (-9, False, True),
        (4, False, True),
        (None, False, True),
        (0, False, False),
        (3, False, False),
        (-9, True, False),
    ],
)
def test_a_backup_that_stops_uncleanly_is_taken_over_at_once(
    store: SessionStore,
    settings: Settings,
    clock: FakeClock,
    exit_code: int | None,
    on_purpose: bool,
    taken_over: bool,
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    backup = engine.take_over("s1").launcherRef
    store.heartbeat("s1", Beat(epoch=2))
    clock.advance(1)  # long before any heartbeat timeout
    takeover = engine.on_recorder_stopped(RecorderStopped(backup or "", "s1", exit_code, on_purpose))
    assert (takeover is not None) is taken_over
    record = store.get("s1")
    assert record.epoch == (3 if taken_over else 2)
    if taken_over:
        assert record.failovers[-1].reason == "backup-exited"


def test_a_recorder_that_no_longer_owns_the_session_is_no_reason_to_take_over(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock)
    recording_session(store, clock)
    engine.take_over("s1")
    assert engine.on_recorder_stopped(RecorderStopped("an-older-backup", "s1", -9, False)) is None
    assert engine.on_recorder_stopped(RecorderStopped("x", "no-such-session", -9, False)) is None
    assert store.get("s1").epoch == 2


def test_ecs_stopped_task_events_are_read_and_others_ignored() -> None:
    event = stopped_task_event(
        {"ref": "arn:task/1", "sessionId": "s1", "epoch": 2, "stoppedOnPurpose": False}, 137
    )
    assert recorder_stopped(event) == RecorderStopped("arn:task/1", "s1", 137, False)
    running = {**event, "detail": {**event["detail"], "lastStatus": "RUNNING"}}
    assert recorder_stopped(running) is None
    assert recorder_stopped({"detail-type": "Scheduled Event", "detail": {}}) is None


# --- the routes a standby calls -------------------------------------------------------------


@pytest.fixture
def standby_api(
    store: SessionStore, pool_settings: Settings, clock: FakeClock, standbys: StandbyStore
) -> ApiClient:
    deps = ApiDeps(pool_settings, store, CredentialSource(pool_settings), clock, standby_store=standbys)
    return ApiClient(Api(deps))


def test_a_standby_registers_polls_and_accepts_over_http(
    standby_api: ApiClient, standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    assert standby_api.call("POST", "/api/standbys", {"standbyId": "sb1", "host": "h"}).status == 201
    nothing = standby_api.call("GET", "/api/standbys/sb1/assignment")
    assert (nothing.status, nothing.raw) == (204, b"")  # no body: a kept-alive connection stays clean
    pool = StandbyPool(standbys, RecordingLauncher(), pool_settings, clock, sleep=lambda _: None)
    standbys.decide(
        "sb1",
        lambda r, now: rules.assign(
            r,
            Assignment(sessionId="s1", epoch=2, startChunk="0003", environment={"A": "1"}, assignedAt=now),
            now,
            15,
        ),
    )
    given = standby_api.call("GET", "/api/standbys/sb1/assignment")
    assert given.status == 200
    assert given.json["sessionId"] == "s1"
    assert given.json["environment"] == {"A": "1"}
    wrong = standby_api.call("PUT", "/api/standbys/sb1/accept", {"sessionId": "s1", "epoch": 3})
    assert wrong.status == 409
    assert "epoch 3" in wrong.json["error"]
    assert standby_api.call("PUT", "/api/standbys/sb1/accept", {"sessionId": "s1", "epoch": 2}).status == 200
    listing = standby_api.call("GET", "/api/standbys").json
    assert listing["idle"] == 0
    assert listing["standbys"][0]["status"] == "ACCEPTED"
    assert pool.hand_over(SPEC) is None  # nobody idle any more


def test_standby_routes_refuse_bad_input_and_tell_a_retired_or_unknown_standby_to_exit(
    standby_api: ApiClient, standbys: StandbyStore
) -> None:
    bad = standby_api.call("POST", "/api/standbys", {"standbyId": "has space"})
    assert bad.status == 400
    assert "standbyId" in bad.json["error"]
    assert standby_api.call("POST", "/api/standbys", {"standbyId": "sb1", "extra": 1}).status == 400
    assert standby_api.call("GET", "/api/standbys/nobody/assignment").status == 410
    idle(standbys, "sb2")
    standbys.decide("sb2", lambda r, _: rules.retire(r))
    assert standby_api.call("GET", "/api/standbys/sb2/assignment").status == 410
    assert standby_api.call("PUT", "/api/standbys/sb2/accept", {"sessionId": "s1", "epoch": 0}).status == 400
    assert standby_api.call("GET", "/api/standbys", auth=None).status == 401


def test_standbys_that_keep_dying_before_they_register_are_not_relaunched_every_sweep(
    standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    pool = StandbyPool(standbys, launcher, pool_settings, clock)
    for _ in range(10):  # each sweep, the two it launched have died without registering
        for spec in launcher.launches:
            launcher.stopped.append((f"ref-{spec.session_id}-e0", True))
        pool.refill()
        clock.advance(2)
    assert len(launcher.launches) == 3 * pool_settings.standby_pool_size
    clock.advance(600)
    for spec in launcher.launches:
        launcher.stopped.append((f"ref-{spec.session_id}-e0", True))
    assert len(pool.refill()) == 2  # later, it tries again


def test_a_modelled_cold_start_is_waited_for_before_the_claim_lapses(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """With APP_PROCESS_LAUNCH_DELAY standing for Fargate's start, the backup's start timeout covers it
    too: a backup still starting is not taken over again (and again, until FAILED)."""
    slow = settings.model_copy(update={"process_launch_delay_s": 90.0})
    engine = engine_for(store, slow, clock)
    recording_session(store, clock)
    engine.take_over("s1")
    clock.advance(slow.backup_start_timeout_s + 60)
    assert engine.sweep().takeovers == []
    clock.advance(31)
    assert [t.reason for t in engine.sweep().takeovers] == ["backup-start-timeout"]


def test_standbys_that_register_and_are_used_are_replaced_as_often_as_needed(
    standbys: StandbyStore, pool_settings: Settings, clock: FakeClock
) -> None:
    """Only deaths before registration hold refills back: a busy pool is refilled every time."""
    launcher = RecordingLauncher()
    pool = StandbyPool(standbys, launcher, pool_settings, clock)
    for _ in range(10):  # each round, both standbys register, then take a session and leave the pool
        for standby_id in pool.refill():
            idle(standbys, standby_id)
            standbys.decide(standby_id, lambda r, _: rules.retire(r))
            launcher.stopped.append((f"ref-{standby_id}-e0", True))
        clock.advance(2)
    assert len(launcher.launches) == 20
