"""What a media node's watcher reports (`POST /api/recorders/exited`): the recorder that owns a
live session died uncleanly, so it is taken over at once, by the same conditional claim as any
other; every other exit is nothing to do."""

from __future__ import annotations

import pytest

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.failover.rules import RECORDER_EXITED, RecorderStopped, exit_needs_takeover
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import ApiClient, FakeClock
from tests.unit.failover_fixtures import RecordingLauncher, engine_for, recording_session


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def watcher_api(
    store: SessionStore, settings: Settings, clock: FakeClock, launcher: RecordingLauncher
) -> ApiClient:
    engine = engine_for(store, settings, clock, launcher)
    return ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock, engine)))


def exited(sid: str = "s1", code: int | None = 137, epoch: int = 1, ref: str = "c0ffee") -> dict:
    return {"sessionId": sid, "ref": ref, "exitCode": code, "epoch": epoch, "host": "node-a"}


def test_openvidus_recorder_dying_is_taken_over_at_once(
    watcher_api: ApiClient, store: SessionStore, clock: FakeClock, launcher: RecordingLauncher
) -> None:
    recording_session(store, clock)  # heard from a moment ago: no heartbeat timeout anywhere near
    reply = watcher_api.post("/api/recorders/exited", exited())
    assert reply.status == 202, reply.json
    assert (reply.json["takenOver"], reply.json["epoch"], reply.json["startChunk"]) == (True, 2, "0003")
    record = store.get("s1")
    assert (record.status.value, record.epoch) == ("FAILING_OVER", 2)
    assert record.failovers[-1].reason == RECORDER_EXITED
    assert len(launcher.launches) == 1


@pytest.mark.parametrize(
    ("report", "why"),
    [
        (exited(code=0), "OpenVidu's q: a clean exit"),
        (exited(code=3), "fenced: a newer epoch owns it"),
        (exited(epoch=2), "not the session's epoch"),
        (exited(sid="unknown"), "not a session of ours"),
    ],
)
def test_any_other_exit_is_nothing_to_do(
    watcher_api: ApiClient,
    store: SessionStore,
    clock: FakeClock,
    launcher: RecordingLauncher,
    report: dict,
    why: str,
) -> None:
    recording_session(store, clock)
    reply = watcher_api.post("/api/recorders/exited", report)
    assert (reply.status, reply.json["takenOver"]) == (200, False), why
    assert store.get("s1").epoch == 1
    assert launcher.launches == []


def test_a_report_repeated_takes_over_once(
    watcher_api: ApiClient, store: SessionStore, clock: FakeClock, launcher: RecordingLauncher
) -> None:
    recording_session(store, clock)
    assert watcher_api.post("/api/recorders/exited", exited()).status == 202
    again = watcher_api.post("/api/recorders/exited", exited())  # epoch 1 no longer owns it
    assert (again.status, again.json["takenOver"]) == (200, False)
    assert len(launcher.launches) == 1


def test_a_report_without_its_epoch_is_refused_naming_it(watcher_api: ApiClient) -> None:
    body = exited()
    del body["epoch"]
    reply = watcher_api.post("/api/recorders/exited", body)
    assert reply.status == 400
    assert "epoch" in reply.json["error"]


def test_the_rule_owner_is_the_named_backup_or_the_sessions_epoch(
    store: SessionStore, clock: FakeClock
) -> None:
    recording_session(store, clock)
    record = store.get("s1")
    assert exit_needs_takeover(record, RecorderStopped("any", "s1", 137, False, epoch=1))
    assert not exit_needs_takeover(record, RecorderStopped("any", "s1", 137, False))  # ECS: by reference
    assert not exit_needs_takeover(record, RecorderStopped("any", "s1", 137, True, epoch=1))  # on purpose


@pytest.mark.parametrize("sid", ["", "   ", "a/b", "x" * 129])
def test_a_session_id_no_key_can_hold_is_refused_naming_it(watcher_api: ApiClient, sid: str) -> None:
    reply = watcher_api.post("/api/recorders/exited", exited(sid=sid))
    assert reply.status == 400, reply.json
    assert "sessionId" in reply.json["error"]
